//! The response body both `tower` layers hand on: it ends the request's segment (server) or
//! the call's subsegment (client) when the body ends, so a streamed body is timed.
//!
//! [`Open`] is the entity still open for one request, with what happens to it if it is dropped
//! early; it moves from the response future into [`ResponseBody`] when the head arrives.

use std::fmt::Display;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use xray_core::model::Exception;

use super::grpc_status;
use crate::context::{Subsegment, TraceContext};

/// The entity a response is timed by.
#[derive(Debug)]
enum Entity {
    /// The server's segment (ended through its handle).
    Segment(TraceContext),
    /// The client's subsegment (ended as its guard drops).
    Subsegment(Subsegment),
}

/// How far the response got: what a drop at this point means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for the response head: a drop is a cancelled request.
    Head,
    /// Streaming the body: a drop means the body was cut short.
    Body,
    /// Recorded: a drop only ends the entity.
    Done,
}

/// An open segment or subsegment of one request; ends it when dropped, recording a drop
/// before the end as [`Stage`] says.
#[derive(Debug)]
pub(crate) struct Open {
    entity: Entity,
    stage: Stage,
}

impl Open {
    /// The server's segment, waiting for the response head.
    pub(crate) fn segment(ctx: TraceContext) -> Self {
        Self {
            entity: Entity::Segment(ctx),
            stage: Stage::Head,
        }
    }

    /// The client's subsegment, waiting for the response head.
    pub(crate) fn subsegment(sub: Subsegment) -> Self {
        Self {
            entity: Entity::Subsegment(sub),
            stage: Stage::Head,
        }
    }

    /// The handle recording on the entity.
    pub(crate) fn ctx(&self) -> &TraceContext {
        match &self.entity {
            Entity::Segment(ctx) => ctx,
            Entity::Subsegment(sub) => sub,
        }
    }

    fn is_server(&self) -> bool {
        matches!(self.entity, Entity::Segment(_))
    }

    /// Records a gRPC status carried in `headers` (response headers or trailers).
    pub(crate) fn grpc_status(&self, headers: &HeaderMap) {
        grpc_status::record(self.ctx(), headers, !self.is_server());
    }

    /// Ends the entity as recorded so far (an error or a finished body).
    pub(crate) fn finish(mut self) {
        self.stage = Stage::Done;
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let ctx = self.ctx();
        match (self.stage, self.is_server()) {
            (Stage::Head, server) => {
                ctx.exception(&Exception {
                    type_name: Some("Cancelled"),
                    message: Some(if server {
                        "the request was dropped before a response was produced"
                    } else {
                        "the call was dropped before a response arrived"
                    }),
                    ..Exception::default()
                });
                ctx.fault();
            }
            // The client went away (or a layer outside stopped sending) in the middle of the
            // body: the service did its work, the client gave up, as nginx's 499.
            (Stage::Body, true) => {
                ctx.exception(&Exception {
                    type_name: Some("BodyCutShort"),
                    message: Some("the response body was dropped before its end"),
                    ..Exception::default()
                });
                ctx.client_error();
            }
            // The caller stopped reading a response it had: its choice, the call succeeded.
            (Stage::Body, false) | (Stage::Done, _) => {}
        }
        if let Entity::Segment(ctx) = &self.entity {
            ctx.end_quietly();
        }
        // A subsegment ends as its guard drops, after this.
    }
}

pin_project_lite::pin_project! {
    /// The response body of a traced request or call: the body `B` unchanged, frame for frame;
    /// the segment (server) or subsegment (client) ends when it ends: at its last frame, at an
    /// error (recorded with `fault`), or when it is dropped before its end (see the layers'
    /// docs for what that records).
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        open: Option<Open>,
    }
}

impl<B: Body> ResponseBody<B> {
    /// `inner`, ending `open` (if any) when it ends.
    pub(crate) fn new(inner: B, mut open: Option<Open>) -> Self {
        if let Some(open) = open.as_mut() {
            open.stage = Stage::Body;
        }
        // An empty body may never be polled: it ends now.
        if inner.is_end_stream()
            && let Some(open) = open.take()
        {
            open.finish();
        }
        Self { inner, open }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let polled = match this.open.as_ref() {
            // The server's body runs as the request (a stream may record on it).
            Some(open) if open.is_server() => {
                open.ctx().in_scope(|| this.inner.as_mut().poll_frame(cx))
            }
            _ => this.inner.as_mut().poll_frame(cx),
        };
        let Poll::Ready(frame) = polled else {
            return Poll::Pending;
        };
        let ended = match &frame {
            None => true,
            Some(Err(e)) => {
                if let Some(open) = this.open.as_ref() {
                    super::record_fault(open.ctx(), "Error", e, false);
                }
                true
            }
            Some(Ok(frame)) => {
                if let (Some(open), Some(trailers)) = (this.open.as_ref(), frame.trailers_ref()) {
                    open.grpc_status(trailers);
                }
                this.inner.is_end_stream()
            }
        };
        if ended && let Some(open) = this.open.take() {
            open.finish();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    use bytes::Bytes;
    use http::HeaderMap;
    use http_body::{Body, Frame};
    use serde_json::Value;

    use super::{Open, ResponseBody};
    use crate::Tracer;
    use crate::tracer::SharedTransport;

    #[derive(Default)]
    struct Sent(Mutex<Vec<Value>>);

    impl SharedTransport for Sent {
        fn send_shared(&self, datagram: &[u8]) {
            let text = std::str::from_utf8(datagram).unwrap();
            let doc = serde_json::from_str(text.split_once('\n').unwrap().1).unwrap();
            self.0.lock().unwrap().push(doc);
        }
    }

    impl Sent {
        fn docs(&self) -> Vec<Value> {
            self.0.lock().unwrap().clone()
        }
    }

    /// A body that yields the frames it was given; at its end once they are all taken.
    struct Frames(VecDeque<Result<Frame<Bytes>, &'static str>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = &'static str;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            Poll::Ready(self.0.pop_front())
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    fn data(text: &'static str) -> Result<Frame<Bytes>, &'static str> {
        Ok(Frame::data(Bytes::from_static(text.as_bytes())))
    }

    fn setup() -> (Arc<Sent>, Tracer) {
        let sent = Arc::new(Sent::default());
        let tracer = Tracer::builder("svc")
            .transport(sent.clone())
            .always_sample()
            .build();
        (sent, tracer)
    }

    /// Polls one frame of `body`; `None` at its end.
    fn poll(body: &mut ResponseBody<Frames>) -> Option<Result<Frame<Bytes>, &'static str>> {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending => panic!("a Frames body is always ready"),
        }
    }

    #[test]
    fn the_segment_ends_with_the_last_frame_and_reads_grpc_trailers() {
        let (sent, tracer) = setup();
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "13".parse().unwrap());
        trailers.insert("grpc-message", "db%20down%20%E2%9C%97".parse().unwrap());
        let frames = [data("a"), Ok(Frame::trailers(trailers))];
        let open = Open::segment(tracer.begin(None));
        let mut body = ResponseBody::new(Frames(frames.into()), Some(open));
        assert!(poll(&mut body).unwrap().unwrap().is_data());
        assert!(sent.docs().is_empty(), "not ended before the trailers");
        assert!(poll(&mut body).unwrap().unwrap().is_trailers());
        let docs = sent.docs();
        assert_eq!(
            docs.len(),
            1,
            "ended with its last frame, before the body is dropped"
        );
        assert_eq!(docs[0]["fault"], true);
        let exception = &docs[0]["cause"]["exceptions"][0];
        assert_eq!(exception["type"], "INTERNAL");
        assert_eq!(exception["message"], "db down ✗");
        drop(body);
        assert_eq!(sent.docs().len(), 1, "ended once");
    }

    #[test]
    fn a_body_error_is_a_fault_and_an_empty_body_ends_at_once() {
        let (sent, tracer) = setup();
        let open = Open::segment(tracer.begin(None));
        let mut body = ResponseBody::new(Frames([data("a"), Err("disk gone")].into()), Some(open));
        assert!(poll(&mut body).unwrap().is_ok());
        assert_eq!(poll(&mut body).unwrap().unwrap_err(), "disk gone");
        let docs = sent.docs();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["fault"], true);
        assert_eq!(docs[0]["cause"]["exceptions"][0]["message"], "disk gone");

        let open = Open::segment(tracer.begin(None));
        let body = ResponseBody::new(Frames(VecDeque::new()), Some(open));
        let docs = sent.docs();
        assert_eq!(
            docs.len(),
            2,
            "an empty body ends the segment before any poll"
        );
        assert!(docs[1].get("fault").is_none() && docs[1].get("error").is_none());
        drop(body);
        assert_eq!(sent.docs().len(), 2);
    }

    #[test]
    fn dropped_mid_body_the_server_marks_it_cut_short_the_client_does_not() {
        let (sent, tracer) = setup();
        let open = Open::segment(tracer.begin(None));
        let mut body = ResponseBody::new(Frames([data("a"), data("b")].into()), Some(open));
        assert!(poll(&mut body).is_some());
        drop(body);
        let docs = sent.docs();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["error"], true);
        assert_eq!(docs[0]["cause"]["exceptions"][0]["type"], "BodyCutShort");

        let ctx = tracer.begin(None);
        let open = Open::subsegment(ctx.subsegment("download"));
        let mut body = ResponseBody::new(Frames([data("a"), data("b")].into()), Some(open));
        assert!(poll(&mut body).is_some());
        drop(body);
        ctx.end();
        let docs = sent.docs();
        assert_eq!(docs.len(), 2);
        let call = &docs[1]["subsegments"][0];
        assert_eq!(call["name"], "download");
        assert!(call.get("end_time").is_some(), "ended at the drop");
        assert!(call.get("error").is_none() && call.get("cause").is_none());
    }
}
