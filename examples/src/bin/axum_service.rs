//! An axum service traced with `XRayServerLayer`, calling another traced service through
//! hyper-util's client with `XRayClientLayer` (the shop of [`xray_examples::shop`], shared
//! with the demo), configured as a deployed service is: from `AWS_XRAY_DAEMON_ADDRESS`
//! (default `127.0.0.1:2000`, where the X-Ray daemon, the CloudWatch agent or `xray-view`
//! listens).
//!
//! ```text
//! cargo run -p xray-view                                   # terminal 1: the viewer
//! cargo run -p xray-examples --bin axum_service            # terminal 2: serves on 127.0.0.1:3000
//! curl -X POST http://127.0.0.1:3000/orders             # terminal 3
//! ```
//!
//! `--calls` runs the shop's traced client program against the service instead of serving
//! until interrupted: it places an order, pays for it (a 502) and checks health (not
//! sampled), then exits. The test script runs it that way with `xray-view --count 5 --strict`.

use clap::Parser;
use xray_examples::shop::Shop;
use xray_std::Config;

#[derive(Parser)]
#[command(about = "An axum service traced with XRayServerLayer and XRayClientLayer")]
struct Args {
    /// Where orders-api listens (127.0.0.1 only in the examples).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: std::net::SocketAddr,
    /// Make the client program's three calls, print them and exit.
    #[arg(long)]
    calls: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = Config::from_env()?;
    let daemon = config.daemon_address.udp().resolve()?;
    let shop = Shop::start(daemon, args.listen).await?;
    println!(
        "orders-api on http://{}, inventory on http://{}, segments to udp {daemon}",
        shop.orders, shop.inventory
    );
    if args.calls {
        for call in shop.run_calls().await? {
            println!(
                "checkout-cli  {:<22} → {}  {}",
                call.what,
                call.status,
                if call.sampled {
                    "sampled"
                } else {
                    "not sampled"
                },
            );
        }
        println!("{} datagrams sent", shop.datagrams_sent());
        return Ok(());
    }
    println!("try: curl -X POST http://{}/orders", shop.orders);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
