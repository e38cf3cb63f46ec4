//! The request both tower measurements run: the `tower_layer` bench and the `tower_requests`
//! example of `scripts/bench-tower.sh` (which includes this file by path).

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

/// A handler answering at once with a 5-byte body.
#[derive(Clone)]
pub struct Hello;

impl Service<Request<()>> for Hello {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        ready(Ok(Response::new(Full::new(Bytes::from_static(b"hello")))))
    }
}

/// One request on `svc`, as a server makes it: call, the future to its response, the body to
/// its end. The body's frames, or `None` if the response future was not ready at once (every
/// service measured here answers at once).
pub fn one<S, B>(svc: &mut S, req: Request<()>) -> Option<usize>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: Body,
{
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Ok(resp)) = pin!(svc.call(req)).poll(&mut cx) else {
        return None;
    };
    let mut body = pin!(resp.into_body());
    let mut frames = 0;
    while let Poll::Ready(Some(_)) = body.as_mut().poll_frame(&mut cx) {
        frames += 1;
    }
    Some(frames)
}
