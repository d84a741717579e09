//! `etcd://HOST:PORT[/PREFIX]`: epochs as etcd keys. Claiming epoch N is one transaction —
//! if `PREFIX/epoch-N` was never created (its create revision is 0), create it — so of any
//! number of claimants exactly one wins, on any host that reaches the cluster. Liveness is a
//! lease: a side that holds an epoch keeps `PREFIX/alive/epoch-N` under a lease it renews
//! while it runs (tokens are under it too), so a dead holder's key goes within the TTL while
//! the epoch key itself stays forever (epochs are fencing tokens: one is never won twice).
//!
//! The client is etcd's JSON gateway (`/v3/...`, since etcd 3.4 on the client port) over a
//! plain HTTP/1.1 request per call (`crate::http`): four calls need no gRPC stack, no
//! `protoc` at build time and no async runtime next to the tracer's threads.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::{valid_token_name, Arbiter};
use crate::http::{base64, post_json, unbase64};
use crate::LinkError;

/// The lease's time to live; it is renewed three times as often.
const LEASE_TTL: Duration = Duration::from_secs(3);

pub struct EtcdArbiter {
    host_port: String,
    prefix: String,
    /// This process's lease (its id as the gateway writes it), granted at first need.
    lease: Arc<Mutex<Option<String>>>,
}

impl EtcdArbiter {
    /// From `HOST:PORT[/PREFIX]` (the prefix defaults to `ftrun`).
    pub fn new(spec: &str) -> Result<EtcdArbiter, LinkError> {
        let (host_port, prefix) = spec.split_once('/').unwrap_or((spec, ""));
        let prefix = prefix.trim_matches('/');
        if host_port.is_empty() || !host_port.contains(':') {
            return Err(LinkError::Other(format!(
                "etcd arbiter etcd://{spec}: give HOST:PORT of an etcd client URL, e.g. etcd://127.0.0.1:2379/myservice"
            )));
        }
        Ok(EtcdArbiter {
            host_port: host_port.to_string(),
            prefix: if prefix.is_empty() { "ftrun" } else { prefix }.to_string(),
            lease: Arc::new(Mutex::new(None)),
        })
    }

    fn call(&self, path: &str, body: Value) -> Result<Value, LinkError> {
        post_json(&self.host_port, path, &body)
    }

    fn key(&self, name: &str) -> String {
        base64(format!("{}/{name}", self.prefix).as_bytes())
    }

    /// This process's lease, granted on first use and renewed by a thread while it lives.
    fn lease(&self) -> Result<String, LinkError> {
        let mut lease = self.lease.lock().expect("etcd lease");
        if let Some(id) = lease.as_ref() {
            return Ok(id.clone());
        }
        let granted = self.call("/v3/lease/grant", json!({ "TTL": LEASE_TTL.as_secs() }))?;
        let id = match &granted["ID"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(LinkError::Other(format!(
                    "etcd at {} granted a lease without an id: {granted}",
                    self.host_port
                )))
            }
        };
        let (host_port, renewed, slot) = (self.host_port.clone(), id.clone(), self.lease.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(LEASE_TTL / 3);
            // A renewal that fails is tried again; a lease that expired stays expired
            // (its keys are gone, which is what liveness means) and the next need grants
            // another.
            let r = post_json(&host_port, "/v3/lease/keepalive", &json!({ "ID": renewed }));
            let expired = match &r {
                Ok(r) => r.get("TTL").is_none(),
                Err(e) => e.to_string().contains("lease not found"),
            };
            if expired {
                *slot.lock().expect("etcd lease") = None;
                return;
            }
        });
        *lease = Some(id.clone());
        Ok(id)
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, LinkError> {
        let r = self.call("/v3/kv/range", json!({ "key": self.key(name) }))?;
        Ok(r["kvs"].get(0).and_then(|kv| {
            kv["value"]
                .as_str()
                .map(|v| unbase64(v).unwrap_or_default())
        }))
    }
}

impl Arbiter for EtcdArbiter {
    fn claim(&self, epoch: u64, who: &str) -> Result<bool, LinkError> {
        let lease = self.lease()?;
        let key = self.key(&format!("epoch-{epoch}"));
        let value = base64(who.as_bytes());
        let r = self.call(
            "/v3/kv/txn",
            json!({
                "compare": [{
                    "key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"
                }],
                "success": [
                    { "request_put": { "key": key, "value": value } },
                    { "request_put": {
                        "key": self.key(&format!("alive/epoch-{epoch}")),
                        "value": value,
                        "lease": lease,
                    } },
                ],
            }),
        )?;
        // The gateway leaves out fields that are false.
        Ok(r["succeeded"].as_bool().unwrap_or(false))
    }

    fn latest(&self) -> Result<u64, LinkError> {
        let from = format!("{}/epoch-", self.prefix);
        // The end of the range: the prefix with its last byte ('-') increased.
        let to = format!("{}/epoch.", self.prefix);
        let r = self.call(
            "/v3/kv/range",
            json!({
                "key": base64(from.as_bytes()),
                "range_end": base64(to.as_bytes()),
                "keys_only": true,
            }),
        )?;
        let empty = Vec::new();
        Ok(r["kvs"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter_map(|kv| {
                let key = String::from_utf8(unbase64(kv["key"].as_str()?)?).ok()?;
                key.strip_prefix(&from)?.parse::<u64>().ok()
            })
            .max()
            .unwrap_or(0))
    }

    fn put_token(&self, name: &str, content: &str) -> Result<(), LinkError> {
        if !valid_token_name(name) {
            return Err(LinkError::Other(format!("bad arbiter token name {name:?}")));
        }
        let lease = self.lease()?;
        self.call(
            "/v3/kv/put",
            json!({
                "key": self.key(&format!("token-{name}")),
                "value": base64(content.as_bytes()),
                "lease": lease,
            }),
        )?;
        Ok(())
    }

    fn read_token(&self, name: &str) -> Result<Option<String>, LinkError> {
        if !valid_token_name(name) {
            return Ok(None);
        }
        Ok(self
            .get(&format!("token-{name}"))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn remove_token(&self, name: &str) {
        if valid_token_name(name) {
            let _ = self.call(
                "/v3/kv/deleterange",
                json!({ "key": self.key(&format!("token-{name}")) }),
            );
        }
    }

    fn describe(&self) -> String {
        format!("etcd://{}/{}", self.host_port, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_the_server_and_the_prefix() {
        let a = EtcdArbiter::new("127.0.0.1:2379").unwrap();
        assert_eq!(a.describe(), "etcd://127.0.0.1:2379/ftrun");
        let b = EtcdArbiter::new("etcd.example:2379/svc/kv/").unwrap();
        assert_eq!(b.describe(), "etcd://etcd.example:2379/svc/kv");
        assert!(EtcdArbiter::new("/x").is_err());
        assert!(EtcdArbiter::new("noport").is_err());
    }
}
