//! Hostile messages to every RPC of every service: empty messages, huge
//! strings, unknown enum values, extreme numbers, strange characters, bytes
//! that are no protobuf at all, fields of the wrong wire type and messages
//! over the 4 MiB limit (OUT_OF_RANGE, before decoding). Each must
//! be answered with a clean refusal (never UNKNOWN, never a dropped
//! connection, never INTERNAL except tonic's own "cannot decode" for bytes
//! that are not the message), and none may change what the servers hold.
//!
//! The messages are built from the contracts' descriptors, so an RPC added
//! to the protos is covered without touching this test.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut};
use gongji_tests::{v1 as pb, TestNetwork};
use prost::Message;
use prost_types::{field_descriptor_proto::Type, DescriptorProto, FileDescriptorSet};
use tonic::{
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
    Code, Status,
};

/// Passes already-encoded messages through.
#[derive(Clone, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

struct Method {
    path: String,
    input: String,
    client_streaming: bool,
    server_streaming: bool,
}

fn contracts() -> (Vec<Method>, BTreeMap<String, DescriptorProto>) {
    let set = FileDescriptorSet::decode(gongji_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let mut methods = Vec::new();
    let mut messages = BTreeMap::new();
    for file in &set.file {
        let package = file.package();
        for message in &file.message_type {
            messages.insert(format!(".{package}.{}", message.name()), message.clone());
        }
        for service in &file.service {
            for method in &service.method {
                methods.push(Method {
                    path: format!("/{package}.{}/{}", service.name(), method.name()),
                    input: method.input_type().to_owned(),
                    client_streaming: method.client_streaming(),
                    server_streaming: method.server_streaming(),
                });
            }
        }
    }
    (methods, messages)
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn tag(out: &mut Vec<u8>, field: i32, wire: u8) {
    varint(out, ((field as u64) << 3) | u64::from(wire));
}

fn delimited(out: &mut Vec<u8>, field: i32, bytes: &[u8]) {
    tag(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// How a hostile message fills each field.
#[derive(Clone, Copy, Debug)]
enum Fill {
    Huge,
    Strange,
    Extreme,
}

/// A message of type `name` with every field filled the `fill` way
/// (nested messages too, two levels deep; repeated fields get two items).
fn hostile(messages: &BTreeMap<String, DescriptorProto>, name: &str, fill: Fill, depth: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(message) = messages.get(name) else {
        return out;
    };
    for field in &message.field {
        let number = field.number();
        let items = if field.label() == prost_types::field_descriptor_proto::Label::Repeated {
            2
        } else {
            1
        };
        for _ in 0..items {
            match field.r#type() {
                Type::String | Type::Bytes => {
                    let text = match fill {
                        Fill::Huge => "9".repeat(256 * 1024),
                        Fill::Strange => "\u{0}\u{1f}'; DROP TABLE--💥\u{202e}-1e309 NaN ../../etc".to_owned(),
                        Fill::Extreme => "-99999999999999999999999999999.999".to_owned(),
                    };
                    delimited(&mut out, number, text.as_bytes());
                }
                Type::Message if depth < 2 => {
                    let inner = hostile(messages, field.type_name(), fill, depth + 1);
                    delimited(&mut out, number, &inner);
                }
                Type::Message => delimited(&mut out, number, &[]),
                Type::Enum => {
                    tag(&mut out, number, 0);
                    varint(&mut out, if matches!(fill, Fill::Extreme) { u64::MAX } else { 99 });
                }
                Type::Bool => {
                    tag(&mut out, number, 0);
                    varint(&mut out, 1);
                }
                Type::Double | Type::Fixed64 | Type::Sfixed64 => {
                    tag(&mut out, number, 1);
                    out.extend_from_slice(&f64::NAN.to_le_bytes());
                }
                Type::Float | Type::Fixed32 | Type::Sfixed32 => {
                    tag(&mut out, number, 5);
                    out.extend_from_slice(&f32::INFINITY.to_le_bytes());
                }
                _ => {
                    tag(&mut out, number, 0);
                    varint(&mut out, if matches!(fill, Fill::Extreme) { u64::MAX } else { 1 << 40 });
                }
            }
        }
    }
    out
}

/// Field 1 of the wrong wire type (a varint where bytes are expected, or
/// bytes where a varint is): not the message.
fn wrong_wire_type(messages: &BTreeMap<String, DescriptorProto>, name: &str) -> Option<Vec<u8>> {
    let field = messages.get(name)?.field.first()?;
    let mut out = Vec::new();
    match field.r#type() {
        Type::String | Type::Bytes | Type::Message => {
            tag(&mut out, field.number(), 0);
            varint(&mut out, 7);
        }
        _ => delimited(&mut out, field.number(), b"not a number"),
    }
    Some(out)
}

/// A message just over the 4 MiB every server accepts: field 1 as 4 MiB + 1
/// bytes of text. Refused before it is decoded.
fn oversize() -> Vec<u8> {
    let len = 4 * 1024 * 1024 + 1;
    let mut body = vec![0x0a];
    let mut n = len;
    while n >= 0x80 {
        body.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    body.push(n as u8);
    body.resize(body.len() + len, b'9');
    body
}

async fn call(channel: Channel, method: &Method, body: Vec<u8>) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let path: tonic::codegen::http::uri::PathAndQuery = method.path.parse().expect("method path");
    let deadline = std::time::Duration::from_secs(10);
    match (method.client_streaming, method.server_streaming) {
        (false, false) => {
            let mut request = tonic::Request::new(body);
            request.set_timeout(deadline);
            grpc.unary(request, path, Raw).await.map(drop)
        }
        (false, true) => {
            let mut request = tonic::Request::new(body);
            request.set_timeout(deadline);
            let mut stream = grpc.server_streaming(request, path, Raw).await?.into_inner();
            while stream.message().await?.is_some() {}
            Ok(())
        }
        (true, _) => {
            let mut request = tonic::Request::new(tokio_stream::iter(vec![body.clone(), body]));
            request.set_timeout(deadline);
            if method.server_streaming {
                let mut stream = grpc.streaming(request, path, Raw).await?.into_inner();
                while stream.message().await?.is_some() {}
                Ok(())
            } else {
                grpc.client_streaming(request, path, Raw).await.map(drop)
            }
        }
    }
}

/// What the servers hold, as their own summaries say.
async fn holdings(net: &TestNetwork) -> Vec<String> {
    let mut seen = Vec::new();
    for province in ["13", "41"] {
        let info = net
            .node(province)
            .get_node_info(pb::GetNodeInfoRequest {})
            .await
            .unwrap()
            .into_inner();
        seen.push(format!(
            "{province}: persons {} relationships {} payments {} pending {} outbox {} trial {}",
            info.persons, info.relationships, info.payments, info.pending, info.outbox, info.trial_balance
        ));
    }
    let hub = net.hub().get_hub_info(pb::GetHubInfoRequest {}).await.unwrap().into_inner();
    seen.push(format!(
        "hub: open {} pending {} outbox {}",
        hub.open_period, hub.pending, hub.outbox
    ));
    let positions = net
        .hub()
        .get_positions(pb::GetPositionsRequest {
            period: hub.open_period.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    seen.push(format!("positions: {positions:?}"));
    seen
}

#[tokio::test]
async fn every_rpc_refuses_hostile_messages_cleanly_and_changes_nothing() {
    let net = TestNetwork::start(&["13", "41"]).await;
    gongji_tests::hebei_donor_henan_parent(&net).await;
    let before = holdings(&net).await;
    let (methods, messages) = contracts();
    assert!(methods.len() > 40, "every service's methods: {}", methods.len());

    let hub = Channel::from_shared(net.network().hub_url()).unwrap().connect_lazy();
    let node = Channel::from_shared(net.network().node_url(gongji_tests::code("13")))
        .unwrap()
        .connect_lazy();
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    for method in &methods {
        let channel = if method.path.contains("NationalHub") || method.path.contains("HubRouter") {
            hub.clone()
        } else {
            node.clone()
        };
        let mut bodies = vec![
            ("huge", hostile(&messages, &method.input, Fill::Huge, 0)),
            ("strange", hostile(&messages, &method.input, Fill::Strange, 0)),
            ("extreme", hostile(&messages, &method.input, Fill::Extreme, 0)),
            ("garbage", vec![0xff, 0xff, 0xff, 0x0f]),
        ];
        // An empty CloseMonth closes the open month, as documented: an
        // operator's action, not a hostile message.
        if !method.path.ends_with("/CloseMonth") {
            bodies.push(("empty", Vec::new()));
        }
        if let Some(wrong) = wrong_wire_type(&messages, &method.input) {
            bodies.push(("wrong wire type", wrong));
        }
        bodies.push(("oversize", oversize()));
        for (what, body) in bodies {
            let undecodable = matches!(what, "garbage" | "wrong wire type");
            match call(channel.clone(), method, body).await {
                Ok(()) if what == "oversize" => panic!("{} accepted a message over 4 MiB", method.path),
                Ok(()) => {}
                Err(status) if what == "oversize" => {
                    // The link services ask who is calling first.
                    assert!(
                        matches!(status.code(), Code::OutOfRange | Code::Unauthenticated),
                        "{} with a message over 4 MiB: {status:?}",
                        method.path
                    );
                    *refusals.entry(format!("oversize {:?}", status.code())).or_default() += 1;
                }
                Err(status) => {
                    let clean = match status.code() {
                        Code::Unknown | Code::Unavailable | Code::Cancelled | Code::DataLoss | Code::Unimplemented => false,
                        Code::Internal => undecodable && status.message().contains("decod"),
                        _ => true,
                    };
                    assert!(clean, "{} with a {what} message: {status:?}", method.path);
                    *refusals.entry(format!("{:?}", status.code())).or_default() += 1;
                }
            }
        }
    }
    eprintln!("{} methods; refusals by code: {refusals:?}", methods.len());
    assert!(refusals.get("InvalidArgument").copied().unwrap_or(0) > 50, "{refusals:?}");
    assert!(
        refusals.get("oversize OutOfRange").copied().unwrap_or(0) >= 40,
        "the public services refuse messages over 4 MiB: {refusals:?}"
    );
    assert_eq!(holdings(&net).await, before, "hostile messages changed nothing");

    // And the servers still work.
    let paid = gongji_tests::pay(
        &mut net.node("41"),
        gongji_tests::pay_request("after-hostility", "parent-41", "H41010000001", "1.00"),
    )
    .await
    .unwrap();
    assert_eq!(paid.status, pb::TransactionStatus::Approved as i32);
    net.shutdown().await;
}
