//! The environment plugins against stand-in metadata services on 127.0.0.1 and temp files.
#![cfg(all(feature = "ec2", feature = "ecs", feature = "elastic-beanstalk"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ports;
mod stub_http;

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use stub_http::StubServer;
use xray_std::plugins::{
    EC2_ORIGIN, ECS_ORIGIN, ELASTIC_BEANSTALK_ORIGIN, Ec2Plugin, EcsPlugin, ElasticBeanstalkPlugin,
    Plugins,
};

const TOKEN: &str = "AQAEAFake-token==";
const IDENTITY_DOCUMENT: &str = r#"{
  "accountId" : "123456789012",
  "architecture" : "x86_64",
  "availabilityZone" : "us-west-2b",
  "imageId" : "ami-5fb8c835",
  "instanceId" : "i-1234567890abcdef0",
  "instanceType" : "t2.micro",
  "region" : "us-west-2"
}"#;

/// An IMDS stand-in. With `v2`, the token is issued and required; without, `PUT` is refused
/// with 403 (IMDSv2 blocked by a proxy, or an old service) and the document is served as v1.
fn imds(v2: bool) -> StubServer {
    StubServer::start(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("PUT", "/latest/api/token") if v2 => {
            if req.header("X-aws-ec2-metadata-token-ttl-seconds") == Some("60") {
                (200, TOKEN.to_owned())
            } else {
                (400, String::new())
            }
        }
        ("PUT", _) => (403, String::new()),
        ("GET", "/latest/dynamic/instance-identity/document") => {
            let token = req.header("X-aws-ec2-metadata-token");
            if !v2 || token == Some(TOKEN) {
                (200, IDENTITY_DOCUMENT.to_owned())
            } else {
                (401, String::new())
            }
        }
        _ => (404, String::new()),
    })
}

/// A URL whose port nothing listens on; `offset` is the test's own (see `ports`).
fn closed_port_url(offset: u16) -> String {
    format!("http://{}", ports::unused(offset))
}

/// Runs `f` on its own thread and waits for it, failing if it has not returned after
/// `limit`: a guard against hanging for ever, not a measure of speed.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            worker.join().unwrap();
            v
        }
        Err(_) => panic!("did not return within {limit:?}"),
    }
}

fn short(p: Ec2Plugin) -> Ec2Plugin {
    p.with_timeout(Duration::from_secs(10))
}

#[test]
fn ec2_gets_a_token_then_the_identity_document_with_it() {
    let server = imds(true);
    let ec2 = short(Ec2Plugin::default().with_endpoint(server.url()))
        .collect()
        .expect("identity document");
    assert_eq!(ec2.instance_id, "i-1234567890abcdef0");
    assert_eq!(ec2.availability_zone.as_deref(), Some("us-west-2b"));
    assert_eq!(ec2.instance_type.as_deref(), Some("t2.micro"));
    assert_eq!(ec2.ami_id.as_deref(), Some("ami-5fb8c835"));

    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].method, "PUT");
    assert_eq!(
        requests[0].header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("60")
    );
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].header("x-aws-ec2-metadata-token"), Some(TOKEN));
}

#[test]
fn ec2_falls_back_to_imdsv1_when_the_token_is_refused() {
    let server = imds(false);
    let ec2 = short(Ec2Plugin::default().with_endpoint(server.url()))
        .collect()
        .expect("identity document over IMDSv1");
    assert_eq!(ec2.instance_id, "i-1234567890abcdef0");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].header("x-aws-ec2-metadata-token"), None);
}

#[test]
fn ec2_finds_nothing_when_the_document_has_no_instance_id() {
    let server = StubServer::start(|req| match req.method.as_str() {
        "PUT" => (200, TOKEN.to_owned()),
        _ => (200, r#"{"region":"us-west-2"}"#.to_owned()),
    });
    assert_eq!(
        short(Ec2Plugin::default().with_endpoint(server.url())).collect(),
        None
    );
    let server = StubServer::start(|req| match req.method.as_str() {
        "PUT" => (200, TOKEN.to_owned()),
        _ => (500, String::new()),
    });
    assert_eq!(
        short(Ec2Plugin::default().with_endpoint(server.url())).collect(),
        None
    );
}

#[test]
fn ec2_gives_up_at_once_when_nothing_listens() {
    // A refused connection ends the attempt: with a 60 s timeout, waiting for it would take
    // minutes (token, then IMDSv1), so returning within 30 s shows no timeout was waited for.
    let url = closed_port_url(11);
    let found = within(Duration::from_secs(30), move || {
        Ec2Plugin::default()
            .with_endpoint(url)
            .with_timeout(Duration::from_secs(60))
            .collect()
    });
    assert_eq!(found, None);
}

#[test]
fn ec2_respects_its_timeout_when_the_service_hangs() {
    // Accepts connections (the kernel's backlog does) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let start = Instant::now();
    let found = within(Duration::from_secs(60), move || {
        Ec2Plugin::default()
            .with_endpoint(url)
            .with_timeout(Duration::from_millis(300))
            .collect()
    });
    let elapsed = start.elapsed();
    assert_eq!(found, None);
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    // One timed-out token request and no second one for IMDSv1: every connection the client
    // opened is established (in the backlog) by the time it gave up, so counting them now is
    // exact.
    silent.set_nonblocking(true).unwrap();
    let connections = std::iter::from_fn(|| silent.accept().ok()).take(16).count();
    assert_eq!(connections, 1);
}

#[test]
fn ecs_reads_the_container_arn_from_task_metadata_v4() {
    let server = StubServer::start(|req| {
        if req.method != "GET" {
            return (405, String::new());
        }
        (
            200,
            r#"{"DockerId":"cd189a933e5849daa93386466019ab50-2495160603",
                "Name":"curl","ContainerARN":"arn:aws:ecs:us-west-2:111122223333:container/0206b271-b33f-47ab-86c6-a0ba208a70a9",
                "Labels":{"com.amazonaws.ecs.cluster":"default"}}"#
                .to_owned(),
        )
    });
    let uri = format!("{}/v4/abc-123", server.url());
    let ecs = EcsPlugin::new(Some(uri))
        .with_hostname("ip-10-0-0-1")
        .with_timeout(Duration::from_secs(10))
        .collect()
        .expect("in ECS");
    assert_eq!(ecs.container.as_deref(), Some("ip-10-0-0-1"));
    assert_eq!(
        ecs.container_arn.as_deref(),
        Some("arn:aws:ecs:us-west-2:111122223333:container/0206b271-b33f-47ab-86c6-a0ba208a70a9")
    );
    assert_eq!(
        ecs.container_id.as_deref(),
        Some("cd189a933e5849daa93386466019ab50-2495160603")
    );
    assert_eq!(server.requests()[0].path, "/v4/abc-123");
}

#[test]
fn ecs_keeps_the_host_name_when_task_metadata_fails() {
    let ecs = EcsPlugin::new(Some(closed_port_url(12)))
        .with_timeout(Duration::from_millis(300))
        .collect()
        .expect("in ECS");
    assert_eq!(ecs.container_arn, None);
    // The system host name (every Linux has one).
    if cfg!(target_os = "linux") {
        assert!(ecs.container.is_some_and(|h| !h.is_empty()));
    }
}

#[test]
fn elastic_beanstalk_reads_the_environment_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("environment.conf");
    std::fs::write(
        &path,
        r#"{"deployment_id":23,"version_label":"scorekeep-version-1","environment_name":"scorekeep"}"#,
    )
    .unwrap();
    let eb = ElasticBeanstalkPlugin::with_path(&path)
        .collect()
        .expect("valid file");
    assert_eq!(eb.environment_name.as_deref(), Some("scorekeep"));
    assert_eq!(eb.version_label.as_deref(), Some("scorekeep-version-1"));
    assert_eq!(eb.deployment_id, Some(23));

    std::fs::write(&path, "{not json").unwrap();
    assert_eq!(ElasticBeanstalkPlugin::with_path(&path).collect(), None);
    assert_eq!(
        ElasticBeanstalkPlugin::with_path(dir.path().join("missing.conf")).collect(),
        None
    );
}

#[test]
fn plugins_run_only_when_asked_and_the_most_specific_origin_wins() {
    assert!(Plugins::new().collect().is_empty());

    let server = imds(true);
    let ecs_server = StubServer::start(|_| (200, r#"{"ContainerARN":"arn:x"}"#.to_owned()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("environment.conf");
    std::fs::write(&path, r#"{"environment_name":"prod"}"#).unwrap();

    let ec2 = short(Ec2Plugin::default().with_endpoint(server.url()));
    let ecs = EcsPlugin::new(Some(ecs_server.url())).with_hostname("h");

    let only_ec2 = Plugins::new().with_ec2(ec2.clone()).collect();
    assert_eq!(only_ec2.origin(), Some(EC2_ORIGIN));
    assert!(only_ec2.ecs.is_none() && only_ec2.elastic_beanstalk.is_none());

    let ec2_ecs = Plugins::new()
        .with_ec2(ec2.clone())
        .with_ecs(ecs.clone())
        .collect();
    assert_eq!(ec2_ecs.origin(), Some(ECS_ORIGIN));

    let all = Plugins::new()
        .with_ec2(ec2)
        .with_ecs(ecs)
        .with_elastic_beanstalk(ElasticBeanstalkPlugin::with_path(&path))
        .collect();
    assert_eq!(all.origin(), Some(ELASTIC_BEANSTALK_ORIGIN));
    let aws = all.to_aws();
    assert_eq!(aws.ec2.unwrap().instance_id, Some("i-1234567890abcdef0"));
    assert_eq!(aws.ecs.unwrap().container_arn, Some("arn:x"));
    assert_eq!(
        aws.elastic_beanstalk.unwrap().environment_name,
        Some("prod")
    );

    // Outside ECS (no metadata URI) the ECS plugin finds nothing, so EC2 stays the origin.
    let not_ecs = Plugins::new()
        .with_ec2(short(Ec2Plugin::default().with_endpoint(server.url())))
        .with_ecs(EcsPlugin::new(None))
        .collect();
    assert_eq!(not_ecs.origin(), Some(EC2_ORIGIN));
}
