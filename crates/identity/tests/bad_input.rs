//! Bad input never breaks the identity API: random bytes and random or mangled JSON
//! sent (as the cloud admin) to every endpoint that takes a body, and to
//! `POST /auth/tokens`, never get a 5xx; every 4xx is a Keystone error body whose
//! `code` is the status; and a 4xx changes nothing in the store. Then the classic
//! cases one by one: malformed JSON, wrong types, oversized bodies, duplicates,
//! unknown query parameters, unknown ids, unsupported media types.

mod support;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use support::*;

/// Proptest cases per endpoint and input family.
const CASES: u32 = 64;

/// An endpoint that decodes a body, with a valid body to mangle (`{X}` placeholders
/// name the fixture objects of [`Fixture`]).
struct Endpoint {
    method: &'static str,
    path: &'static str,
    valid: &'static [&'static str],
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/users",
        valid: &[
            r#"{"user":{"name":"fuzz","domain_id":"{D}","password":"Fuzz-pw-1","enabled":true,"default_project_id":"{P}","description":"d","email":"e@example.org","options":{}}}"#,
        ],
    },
    Endpoint {
        method: "PATCH",
        path: "/users/{U}",
        valid: &[
            r#"{"user":{"name":"fuzz-u","domain_id":"{D}","enabled":true,"default_project_id":null,"description":"d","email":null,"options":{"a":1}}}"#,
        ],
    },
    Endpoint {
        method: "POST",
        path: "/users/{admin}/password",
        valid: &[r#"{"user":{"password":"Fuzz-pw-2","original_password":"not-the-password"}}"#],
    },
    Endpoint {
        method: "POST",
        path: "/users/{admin}/application_credentials",
        valid: &[
            r#"{"application_credential":{"name":"fuzz","description":"d","secret":"s3cret","expires_at":"2099-01-01T00:00:00Z","roles":[{"name":"member"},{"id":"{member_role}"}],"unrestricted":false,"access_rules":[]}}"#,
        ],
    },
    Endpoint {
        method: "POST",
        path: "/domains",
        valid: &[
            r#"{"domain":{"name":"fuzz-domain","id":"fuzz-domain-id","description":"d","enabled":true,"tags":["t"],"options":{}}}"#,
        ],
    },
    Endpoint {
        method: "PATCH",
        path: "/domains/{D}",
        valid: &[
            r#"{"domain":{"name":"fuzz-d","description":"d","enabled":true,"tags":[],"options":{}}}"#,
        ],
    },
    Endpoint {
        method: "POST",
        path: "/projects",
        valid: &[
            r#"{"project":{"name":"fuzz","domain_id":"{D}","parent_id":"{P}","description":"d","enabled":true,"is_domain":false,"tags":["t"],"options":{}}}"#,
        ],
    },
    Endpoint {
        method: "PATCH",
        path: "/projects/{P}",
        valid: &[
            r#"{"project":{"name":"fuzz-p","domain_id":"{D}","parent_id":"{D}","description":"d","enabled":true,"tags":["t"],"options":{}}}"#,
        ],
    },
    Endpoint {
        method: "POST",
        path: "/groups",
        valid: &[r#"{"group":{"name":"fuzz","domain_id":"{D}","description":"d"}}"#],
    },
    Endpoint {
        method: "PATCH",
        path: "/groups/{G}",
        valid: &[r#"{"group":{"name":"fuzz-g","domain_id":"{D}","description":"d"}}"#],
    },
    Endpoint {
        method: "POST",
        path: "/roles",
        valid: &[r#"{"role":{"name":"fuzz","domain_id":"{D}","description":"d","options":{}}}"#],
    },
    Endpoint {
        method: "PATCH",
        path: "/roles/{R}",
        valid: &[r#"{"role":{"name":"fuzz-r","description":"d","options":{}}}"#],
    },
    Endpoint {
        method: "POST",
        path: "/regions",
        valid: &[
            r#"{"region":{"id":"fuzz-region","description":"d","parent_region_id":"RegionOne"}}"#,
        ],
    },
    Endpoint {
        method: "PATCH",
        path: "/regions/{Rg}",
        valid: &[r#"{"region":{"id":"{Rg}","description":"d","parent_region_id":"RegionOne"}}"#],
    },
    Endpoint {
        method: "POST",
        path: "/services",
        valid: &[r#"{"service":{"type":"fuzz","name":"n","description":"d","enabled":true}}"#],
    },
    Endpoint {
        method: "PATCH",
        path: "/services/{S}",
        valid: &[r#"{"service":{"type":"fuzz-s","name":"n","description":"d","enabled":false}}"#],
    },
    Endpoint {
        method: "POST",
        path: "/endpoints",
        valid: &[
            r#"{"endpoint":{"service_id":"{S}","interface":"public","url":"http://127.0.0.1:9/x","region_id":"RegionOne","region":"RegionOne","enabled":true}}"#,
        ],
    },
    Endpoint {
        method: "PATCH",
        path: "/endpoints/{E}",
        valid: &[
            r#"{"endpoint":{"service_id":"{S}","interface":"internal","url":"https://127.0.0.1:9/y","region_id":"RegionOne","enabled":true}}"#,
        ],
    },
    Endpoint {
        method: "POST",
        path: "/auth/tokens",
        valid: &[
            r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"id":"{U}","password":"wrong"}}},"scope":{"project":{"id":"{P}"}}}}"#,
            r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"fuzz-u","domain":{"name":"fuzz-d","id":"{D}"},"password":"wrong"}}},"scope":{"domain":{"id":"{D}"}}}}"#,
            r#"{"auth":{"identity":{"methods":["token"],"token":{"id":"not-a-token"}},"scope":{"system":{"all":true}}}}"#,
            r#"{"auth":{"identity":{"methods":["application_credential"],"application_credential":{"id":"nope","name":"n","secret":"s","user":{"id":"{U}"}}},"scope":"unscoped"}}"#,
        ],
    },
];

/// Objects the endpoints work on, in a domain of their own.
struct Fixture {
    app: App,
    vars: Vec<(&'static str, String)>,
}

impl Fixture {
    async fn new() -> Fixture {
        let app = App::new().await;
        let d = app.create_domain(&unique("fuzz-domain")).await;
        let p = app.create_project(&d, &unique("fuzz-project")).await;
        let u = app.create_user(&d, &unique("fuzz-user"), None).await;
        let g = app.create_group(&d, &unique("fuzz-group")).await;
        let r = app
            .admin(
                "POST",
                "/roles",
                Some(json!({"role": {"name": unique("fuzz-role")}})),
            )
            .await;
        let rg = app
            .admin(
                "POST",
                "/regions",
                Some(json!({"region": {"description": "fuzz"}})),
            )
            .await;
        let s = app
            .admin(
                "POST",
                "/services",
                Some(json!({"service": {"type": unique("fuzz"), "name": "fuzz"}})),
            )
            .await;
        let s = s["service"]["id"].as_str().expect("service id").to_string();
        let e = app
            .admin(
                "POST",
                "/endpoints",
                Some(json!({"endpoint": {"service_id": s, "interface": "public", "url": "http://127.0.0.1:9/"}})),
            )
            .await;
        let vars = vec![
            ("D", d),
            ("P", p),
            ("U", u),
            ("G", g),
            ("R", r["role"]["id"].as_str().expect("role id").to_string()),
            (
                "Rg",
                rg["region"]["id"].as_str().expect("region id").to_string(),
            ),
            ("S", s),
            (
                "E",
                e["endpoint"]["id"]
                    .as_str()
                    .expect("endpoint id")
                    .to_string(),
            ),
            ("admin", app.admin_user_id.clone()),
            ("member_role", app.role_id("member").await),
        ];
        Fixture { app, vars }
    }

    fn fill(&self, template: &str) -> String {
        let mut s = template.to_string();
        for (k, v) in &self.vars {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        s
    }

    /// Sends one body as the admin and checks the rules every answer must keep.
    async fn check(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<u16, String> {
        let before = self.app.counts().await;
        let headers = [("content-type", content_type)];
        let r = self
            .app
            .raw(
                method,
                path,
                Some(&self.app.admin_token),
                &headers,
                Some(body),
            )
            .await;
        let status = r.code();
        if r.status.is_server_error() {
            return Err(format!("{method} {path} answered {status}: {}", r.text()));
        }
        if r.status.is_client_error() {
            if let Some(problem) = r.keystone_error_problem() {
                return Err(format!("{method} {path} answered {status}: {problem}"));
            }
            let after = self.app.counts().await;
            if after != before {
                return Err(format!("{method} {path} answered {status} but the store changed: {before:?} -> {after:?}"));
            }
        } else if !r.status.is_success() {
            return Err(format!("{method} {path} answered {status}: {}", r.text()));
        } else if !r.body.is_empty() && r.json().is_none() {
            return Err(format!(
                "{method} {path} answered {status} with a body that is not JSON: {}",
                r.text()
            ));
        }
        Ok(status)
    }
}

// ---------------------------------------------------------------------------------
// Generators

/// Strings that tend to upset validation: empty, blank, too long, control
/// characters, names of things that exist.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("   ".to_string()),
        Just("x".repeat(256)),
        Just("y".repeat(20_000)),
        Just("\u{0}\u{1}\n\t\"\\".to_string()),
        Just("😀 ünï ¢ødé".to_string()),
        Just("admin".to_string()),
        Just("default".to_string()),
        Just("Default".to_string()),
        Just("RegionOne".to_string()),
        Just("member".to_string()),
        Just("../../etc/passwd".to_string()),
        Just("2099-01-01T00:00:00Z".to_string()),
        Just("1999-01-01T00:00:00".to_string()),
        Just("http://".to_string()),
        Just("public".to_string()),
        ".{0,24}",
    ]
}

/// JSON leaves of every type, with the extremes of each.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<f64>().prop_map(Value::from),
        Just(json!(1e308)),
        Just(json!(-0.0)),
        nasty_string().prop_map(Value::from),
    ]
}

/// `depth` nested arrays or objects around a number.
fn nested(depth: usize, objects: bool) -> Value {
    let mut v = json!(1);
    for _ in 0..depth {
        v = if objects {
            json!({ "a": v })
        } else {
            json!([v])
        };
    }
    v
}

/// Any JSON value: small trees, and now and then a very deep one.
fn any_json() -> BoxedStrategy<Value> {
    let tree = leaf().prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            btree_map("[a-z_]{0,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        8 => tree,
        1 => (1usize..200, any::<bool>()).prop_map(|(d, o)| nested(d, o)),
    ]
    .boxed()
}

/// Variations of a valid document: each field kept (and varied in turn), dropped,
/// nulled or replaced by a value of any type, and unknown fields added.
fn mangle(valid: Value) -> BoxedStrategy<Value> {
    match valid {
        Value::Object(fields) => {
            let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
                .into_iter()
                .map(|(k, v)| {
                    let (k1, k2, k3) = (k.clone(), k.clone(), k);
                    prop_oneof![
                        6 => mangle(v).prop_map(move |v| Some((k1.clone(), v))),
                        1 => Just(None),
                        1 => Just(Some((k2, Value::Null))),
                        2 => any_json().prop_map(move |v| Some((k3.clone(), v))),
                    ]
                    .boxed()
                })
                .collect();
            let extra = vec(("[a-z_]{1,10}", any_json()), 0..2);
            let object = (fields, extra).prop_map(|(fields, extra)| {
                let mut m: Map<String, Value> = fields.into_iter().flatten().collect();
                for (k, v) in extra {
                    m.entry(k).or_insert(v);
                }
                Value::Object(m)
            });
            prop_oneof![9 => object, 1 => any_json()].boxed()
        }
        Value::Array(items) => {
            let items: Vec<BoxedStrategy<Value>> = items.into_iter().map(mangle).collect();
            prop_oneof![4 => items.prop_map(Value::Array), 1 => vec(any_json(), 0..4).prop_map(Value::Array)].boxed()
        }
        leaf_value => prop_oneof![3 => Just(leaf_value), 2 => leaf(), 1 => any_json()].boxed(),
    }
}

/// A step along a path into a JSON document.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// One small change to a document.
#[derive(Clone, Debug)]
enum Edit {
    Remove,
    Replace(Value),
    AddField(String, Value),
}

/// The paths of every node of a document, the root included.
fn node_paths(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                at.push(Step::Key(k.clone()));
                node_paths(x, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(Step::Index(i));
                node_paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// Applies an edit at a path (ignored if an earlier edit removed the path).
fn apply(doc: &mut Value, path: &[Step], edit: Edit) {
    let Some((last, parent_path)) = path.split_last() else {
        match edit {
            Edit::AddField(k, v) => {
                if let Value::Object(m) = doc {
                    m.insert(k, v);
                }
            }
            Edit::Replace(v) => *doc = v,
            Edit::Remove => *doc = Value::Null,
        }
        return;
    };
    let mut parent = &mut *doc;
    for step in parent_path {
        let next = match (step, parent) {
            (Step::Key(k), Value::Object(m)) => m.get_mut(k),
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => parent = n,
            None => return,
        }
    }
    match (last, parent) {
        (Step::Key(k), Value::Object(m)) => match edit {
            Edit::Remove => {
                m.remove(k);
            }
            Edit::Replace(v) => {
                m.insert(k.clone(), v);
            }
            Edit::AddField(f, v) => match m.get_mut(k) {
                Some(Value::Object(inner)) => {
                    inner.insert(f, v);
                }
                _ => {
                    m.insert(k.clone(), json!({ f: v }));
                }
            },
        },
        (Step::Index(i), Value::Array(a)) if *i < a.len() => match edit {
            Edit::Remove => {
                a.remove(*i);
            }
            Edit::Replace(v) | Edit::AddField(_, v) => a[*i] = v,
        },
        _ => {}
    }
}

/// A valid document with up to three small edits: a field removed, nulled, given
/// a value of another type or a nasty string, or an unknown field added. These get
/// past decoding into the handlers' own checks.
fn near_valid(valid: Value) -> BoxedStrategy<Value> {
    let mut paths = Vec::new();
    node_paths(&valid, &mut Vec::new(), &mut paths);
    let edit = prop_oneof![
        2 => Just(Edit::Remove),
        1 => Just(Edit::Replace(Value::Null)),
        2 => leaf().prop_map(Edit::Replace),
        2 => nasty_string().prop_map(|s| Edit::Replace(Value::String(s))),
        1 => any_json().prop_map(Edit::Replace),
        1 => ("[a-z_]{1,12}", any_json()).prop_map(|(k, v)| Edit::AddField(k, v)),
    ];
    vec((proptest::sample::select(paths), edit), 0..4)
        .prop_map(move |edits| {
            let mut doc = valid.clone();
            for (path, edit) in edits {
                apply(&mut doc, &path, edit);
            }
            doc
        })
        .boxed()
}

/// Bytes that are almost a valid document: a few bytes inserted, removed or flipped.
fn corrupted(valid: String) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    vec((0..len.max(1), any::<u8>(), 0u8..3), 1..6).prop_map(move |edits| {
        let mut b = valid.clone().into_bytes();
        for (at, byte, op) in edits {
            let at = at.min(b.len());
            match op {
                0 => b.insert(at, byte),
                1 if at < b.len() => {
                    b.remove(at);
                }
                _ if at < b.len() => b[at] ^= byte | 1,
                _ => b.push(byte),
            }
        }
        b
    })
}

// ---------------------------------------------------------------------------------
// The properties

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    })
}

/// Runs `strategy`'s inputs against every endpoint, each as one request.
fn fuzz_every_endpoint<S: Strategy>(
    family: &str,
    make: impl Fn(&Fixture, &Endpoint) -> S,
    encode: impl Fn(&S::Value) -> Vec<u8>,
) where
    S::Value: std::fmt::Debug,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fx = rt.block_on(Fixture::new());
    let mut failures = Vec::new();
    for ep in ENDPOINTS {
        let path = fx.fill(ep.path);
        let strategy = make(&fx, ep);
        let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
        let result = runner().run(&strategy, |input| {
            let status = rt
                .block_on(fx.check(ep.method, &path, "application/json", encode(&input)))
                .map_err(TestCaseError::fail)?;
            *statuses.borrow_mut().entry(status).or_default() += 1;
            Ok(())
        });
        // what the inputs provoked, for `--nocapture` readers
        eprintln!(
            "{family}: {} {}: {:?}",
            ep.method,
            ep.path,
            statuses.borrow()
        );
        if let Err(e) = result {
            failures.push(format!("{} {} ({family}): {e}", ep.method, ep.path));
        }
    }
    assert!(
        failures.is_empty(),
        "bad input broke the API:\n{}",
        failures.join("\n")
    );
}

/// The valid documents of an endpoint, placeholders filled, as JSON.
fn valid_documents(fx: &Fixture, ep: &Endpoint) -> Vec<Value> {
    ep.valid
        .iter()
        .map(|t| {
            serde_json::from_str(&fx.fill(t)).expect("the valid document of the table is JSON")
        })
        .collect()
}

#[test]
fn random_bytes_never_break_decoding() {
    fuzz_every_endpoint(
        "random bytes",
        |fx, ep| {
            let texts: Vec<String> = valid_documents(fx, ep)
                .iter()
                .map(Value::to_string)
                .collect();
            prop_oneof![
                vec(any::<u8>(), 0..512),
                proptest::sample::select(texts).prop_flat_map(corrupted),
            ]
        },
        |bytes| bytes.clone(),
    );
}

#[test]
fn random_json_never_breaks_decoding() {
    fuzz_every_endpoint(
        "random JSON",
        |_, _| any_json(),
        |v| v.to_string().into_bytes(),
    );
}

#[test]
fn mangled_documents_never_break_the_api() {
    fuzz_every_endpoint(
        "mangled documents",
        |fx, ep| {
            let docs: Vec<BoxedStrategy<Value>> =
                valid_documents(fx, ep).into_iter().map(mangle).collect();
            proptest::strategy::Union::new(docs)
        },
        |v| v.to_string().into_bytes(),
    );
}

#[test]
fn nearly_valid_documents_never_break_the_api() {
    fuzz_every_endpoint(
        "nearly valid documents",
        |fx, ep| {
            let docs: Vec<BoxedStrategy<Value>> = valid_documents(fx, ep)
                .into_iter()
                .map(near_valid)
                .collect();
            proptest::strategy::Union::new(docs)
        },
        |v| v.to_string().into_bytes(),
    );
}

// ---------------------------------------------------------------------------------
// The classic cases, one by one

/// Asserts the status and the Keystone error body.
fn assert_error(r: &Resp, status: u16, what: &str) {
    assert_eq!(
        r.code(),
        status,
        "{what}: expected {status}, got {}: {}",
        r.code(),
        r.text()
    );
    if let Some(problem) = r.keystone_error_problem() {
        panic!("{what}: {problem}");
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    let before = app.counts().await;
    let payloads: &[(&str, &[u8])] = &[
        ("truncated", br#"{"user": {"name": "x""#),
        ("not JSON", b"not json at all"),
        ("trailing comma", br#"{"user": {"name": "x",}}"#),
        ("not UTF-8", b"\xff\xfe\x00garbage"),
        ("empty", b""),
        ("blank", b"  \n\t "),
        (
            "two documents",
            br#"{"user": {"name": "x"}} {"user": {"name": "y"}}"#,
        ),
        ("single quotes", b"{'user': {'name': 'x'}}"),
        ("NaN", br#"{"user": {"name": "x", "enabled": NaN}}"#),
        ("lone surrogate", br#"{"user": {"name": "\ud800"}}"#),
    ];
    for (what, body) in payloads {
        let r = app
            .raw(
                "POST",
                "/users",
                Some(&app.admin_token),
                &[],
                Some(body.to_vec()),
            )
            .await;
        assert_error(&r, 400, what);
        let r = app
            .raw("POST", "/auth/tokens", None, &[], Some(body.to_vec()))
            .await;
        assert_error(&r, 400, &format!("{what} (auth)"));
    }
    assert_eq!(
        app.counts().await,
        before,
        "nothing is created by bad input"
    );
}

#[tokio::test]
async fn wrong_types_and_shapes_are_400() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    let before = app.counts().await;
    let name = unique("typed");
    let cases = [
        (
            "enabled is a string",
            json!({"user": {"name": name, "enabled": "yes"}}),
        ),
        ("name is a number", json!({"user": {"name": 123}})),
        ("name is a list", json!({"user": {"name": ["a"]}})),
        ("name is null", json!({"user": {"name": null}})),
        ("name is missing", json!({"user": {}})),
        ("name is blank", json!({"user": {"name": "   "}})),
        (
            "name is too long",
            json!({"user": {"name": "n".repeat(256)}}),
        ),
        ("user is a string", json!({"user": "alice"})),
        ("user is null", json!({"user": null})),
        ("wrong wrapper", json!({"users": {"name": name}})),
        ("an array", json!(["user"])),
        ("a number", json!(42)),
        (
            "options is a list",
            json!({"user": {"name": name, "options": []}}),
        ),
        (
            "unknown domain",
            json!({"user": {"name": name, "domain_id": "no-such-domain"}}),
        ),
    ];
    for (what, body) in &cases {
        let r = app
            .call("POST", "/users", Some(&app.admin_token), Some(body))
            .await;
        assert_error(&r, 400, what);
    }
    let user = fx.fill("/users/{U}");
    let r = app
        .call(
            "PATCH",
            &user,
            Some(&app.admin_token),
            Some(&json!({"user": {"enabled": "no"}})),
        )
        .await;
    assert_error(&r, 400, "PATCH enabled is a string");
    let project = fx.fill("/projects/{P}");
    let r = app
        .call(
            "PATCH",
            &project,
            Some(&app.admin_token),
            Some(&json!({"project": {"tags": "t"}})),
        )
        .await;
    assert_error(&r, 400, "PATCH tags is a string");
    let r = app
        .call(
            "POST",
            "/roles",
            Some(&app.admin_token),
            Some(&json!({"role": {"name": 1}})),
        )
        .await;
    assert_error(&r, 400, "role name is a number");
    let r = app
        .call(
            "POST",
            "/endpoints",
            Some(&app.admin_token),
            Some(&json!({"endpoint": {"url": "http://x"}})),
        )
        .await;
    assert_error(&r, 400, "endpoint without a service");
    for body in [
        json!({"auth": {}}),
        json!({"auth": {"identity": {"methods": ["password"]}}}),
        json!({"auth": {"identity": {"methods": "password", "password": {}}}}),
        json!({"auth": {"identity": {"methods": []}}}),
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"password": "x"}}}}}),
    ] {
        let r = app.call("POST", "/auth/tokens", None, Some(&body)).await;
        assert_error(&r, 400, &format!("auth request {body}"));
    }
    assert_eq!(
        app.counts().await,
        before,
        "nothing is created by bad input"
    );
}

#[tokio::test]
async fn deep_nesting_is_400_not_a_crash() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    for depth in [200, 10_000, 100_000] {
        let body = format!(
            r#"{{"user":{{"name":"deep","x":{}1{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let r = app
            .raw(
                "POST",
                "/users",
                Some(&app.admin_token),
                &[],
                Some(body.into_bytes()),
            )
            .await;
        assert_error(&r, 400, &format!("nesting {depth} deep"));
    }
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_413() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    let before = app.counts().await;
    let big = format!(
        r#"{{"user":{{"name":"big","description":"{}"}}}}"#,
        "x".repeat(nimbus_api::MAX_BODY_BYTES + 10)
    );
    let r = app
        .raw(
            "POST",
            "/users",
            Some(&app.admin_token),
            &[],
            Some(big.clone().into_bytes()),
        )
        .await;
    assert_error(&r, 413, "POST /users");
    let user = fx.fill("/users/{U}");
    let r = app
        .raw(
            "PATCH",
            &user,
            Some(&app.admin_token),
            &[],
            Some(big.clone().into_bytes()),
        )
        .await;
    assert_error(&r, 413, "PATCH /users/{id}");
    // ... also before authentication
    let r = app
        .raw("POST", "/auth/tokens", None, &[], Some(big.into_bytes()))
        .await;
    assert_error(&r, 413, "POST /auth/tokens");
    assert_eq!(app.counts().await, before);
    // just under the limit is decoded (and refused for what it says, not its size)
    let name = "n".repeat(300);
    let pad = "x".repeat(nimbus_api::MAX_BODY_BYTES - 200 - name.len());
    let almost = format!(r#"{{"user":{{"name":"{name}","description":"{pad}"}}}}"#);
    assert!(almost.len() < nimbus_api::MAX_BODY_BYTES);
    let r = app
        .raw(
            "POST",
            "/users",
            Some(&app.admin_token),
            &[],
            Some(almost.into_bytes()),
        )
        .await;
    assert_error(&r, 400, "a body just under the limit with a too-long name");
    // the server is fine afterwards
    assert_eq!(
        app.call("GET", "/users", Some(&app.admin_token), None)
            .await
            .code(),
        200
    );
}

#[tokio::test]
async fn duplicates_are_409() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    let d = fx.fill("{D}");
    let name = unique("dup");
    app.create_user(&d, &name, None).await;
    let before = app.counts().await;
    let body = json!({"user": {"name": name, "domain_id": d}});
    let r = app
        .call("POST", "/users", Some(&app.admin_token), Some(&body))
        .await;
    assert_error(&r, 409, "the same user name in the same domain");
    assert_eq!(app.counts().await, before);
    // the same name in another domain is fine
    app.create_user("default", &name, None).await;

    let project = unique("dup-project");
    let group = unique("dup-group");
    let domain = unique("dup-domain");
    let role = unique("dup-role");
    for (path, body) in [
        (
            "/projects",
            json!({"project": {"name": project, "domain_id": d}}),
        ),
        ("/groups", json!({"group": {"name": group, "domain_id": d}})),
        ("/domains", json!({"domain": {"name": domain}})),
        ("/roles", json!({"role": {"name": role}})),
    ] {
        app.admin("POST", path, Some(body.clone())).await;
        let before = app.counts().await;
        let r = app
            .call("POST", path, Some(&app.admin_token), Some(&body))
            .await;
        assert_error(&r, 409, &format!("duplicate POST {path}"));
        assert_eq!(app.counts().await, before);
    }
    // renaming onto an existing name conflicts as well
    let other = app.create_user(&d, &unique("dup-other"), None).await;
    let r = app
        .call(
            "PATCH",
            &format!("/users/{other}"),
            Some(&app.admin_token),
            Some(&json!({"user": {"name": name}})),
        )
        .await;
    assert_error(&r, 409, "renaming a user onto an existing name");
}

#[tokio::test]
async fn unknown_query_parameters_are_400() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    for path in [
        "/users?foo=bar",
        "/users?name=x&nmae=y",
        "/projects?bogus=1",
        "/groups?x=1",
        "/roles?x=1",
        "/domains?x=1",
        "/regions?x=1",
        "/services?x=1",
        "/endpoints?x=1",
        "/role_assignments?user=x",
        "/audit_records?x=1",
    ] {
        let r = app.call("GET", path, Some(&app.admin_token), None).await;
        assert_error(&r, 400, &format!("GET {path}"));
    }
    for path in ["/users?enabled=maybe", "/users?limit=-1", "/users?limit=x"] {
        let r = app.call("GET", path, Some(&app.admin_token), None).await;
        assert_error(&r, 400, &format!("GET {path}"));
    }
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    let long = format!("/roles/{}", "a".repeat(300));
    let mut paths: Vec<String> = [
        "/users/not-a-uuid",
        "/users/00000000000000000000000000000000",
        "/projects/%20",
        "/groups/..%2f..",
        "/domains/nope",
        "/regions/nowhere",
        "/services/nope",
        "/endpoints/nope",
        "/users/nope/groups",
        "/users/nope/projects",
        "/groups/nope/users",
        "/roles/nope/implies",
        "/users/{admin}/application_credentials/nope",
        "/projects/nope/users/{U}/roles",
        "/projects/{P}/users/nope/roles",
        "/domains/{D}/groups/nope/roles",
        "/robots/{P}/users/{U}/roles",
        "/projects/{P}/robots/{U}/roles",
        "/system/users/nope/roles",
    ]
    .iter()
    .map(|p| fx.fill(p))
    .collect();
    paths.push(long);
    for path in &paths {
        let r = app.call("GET", path, Some(&app.admin_token), None).await;
        assert_error(&r, 404, &format!("GET {path}"));
    }
    let before = app.counts().await;
    let writes = [
        (
            "PATCH",
            "/users/nope",
            Some(json!({"user": {"description": "d"}})),
        ),
        (
            "PATCH",
            "/projects/nope",
            Some(json!({"project": {"description": "d"}})),
        ),
        (
            "PATCH",
            "/groups/nope",
            Some(json!({"group": {"description": "d"}})),
        ),
        (
            "PATCH",
            "/domains/nope",
            Some(json!({"domain": {"description": "d"}})),
        ),
        (
            "PATCH",
            "/roles/nope",
            Some(json!({"role": {"description": "d"}})),
        ),
        ("DELETE", "/users/nope", None),
        ("DELETE", "/projects/nope", None),
        ("DELETE", "/groups/nope", None),
        ("DELETE", "/roles/nope", None),
        ("DELETE", "/regions/nope", None),
        ("DELETE", "/services/nope", None),
        ("DELETE", "/endpoints/nope", None),
        ("PUT", "/groups/{G}/users/nope", None),
        ("PUT", "/groups/nope/users/{U}", None),
        ("DELETE", "/groups/{G}/users/{U}", None),
        ("PUT", "/projects/{P}/users/{U}/roles/nope", None),
        ("PUT", "/projects/{P}/users/nope/roles/{member_role}", None),
        ("PUT", "/system/users/nope/roles/{member_role}", None),
        (
            "DELETE",
            "/projects/{P}/users/{U}/roles/{member_role}",
            None,
        ),
        ("PUT", "/roles/nope/implies/{member_role}", None),
        (
            "DELETE",
            "/users/{admin}/application_credentials/nope",
            None,
        ),
    ];
    for (method, path, body) in &writes {
        let path = fx.fill(path);
        let r = app
            .call(method, &path, Some(&app.admin_token), body.as_ref())
            .await;
        assert_error(&r, 404, &format!("{method} {path}"));
    }
    assert_eq!(app.counts().await, before, "nothing is created by a 404");
}

/// PostgreSQL refuses NUL characters in TEXT values, SQLite does not: an id, a
/// name or a filter with a NUL in it must still get a 4xx (or work), on both.
#[tokio::test]
async fn nul_characters_never_cause_a_500() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    let token = Some(app.admin_token.as_str());
    let mut failures = Vec::new();
    let mut expect = |what: String, r: Resp, allowed: &[u16]| {
        if !allowed.contains(&r.code()) {
            failures.push(format!(
                "{what}: expected {allowed:?}, got {} {}",
                r.code(),
                r.text()
            ));
        } else if r.status.is_client_error() {
            if let Some(problem) = r.keystone_error_problem() {
                failures.push(format!("{what}: {problem}"));
            }
        }
    };
    for path in [
        "/users/a%00b",
        "/projects/%00",
        "/groups/%00",
        "/domains/%00",
        "/roles/%00",
        "/regions/%00",
        "/services/%00",
        "/endpoints/%00",
        "/users/%00/groups",
        "/roles/%00/implies",
    ] {
        expect(
            format!("GET {path}"),
            app.call("GET", path, token, None).await,
            &[404],
        );
    }
    for path in [
        "/users?domain_id=%00",
        "/projects?domain_id=%00",
        "/groups?domain_id=%00",
        "/endpoints?service_id=%00",
        "/users/%00/application_credentials",
        "/users?name=%00",
    ] {
        expect(
            format!("GET {path}"),
            app.call("GET", path, token, None).await,
            &[200],
        );
    }
    let d = fx.fill("{D}");
    let refused = [
        (
            "/groups",
            json!({"group": {"name": "g", "domain_id": "\u{0}"}}),
        ),
        (
            "/projects",
            json!({"project": {"name": "p", "domain_id": "\u{0}"}}),
        ),
        (
            "/users",
            json!({"user": {"name": "u", "domain_id": "\u{0}"}}),
        ),
        (
            "/roles",
            json!({"role": {"name": "r", "domain_id": "\u{0}"}}),
        ),
        ("/regions", json!({"region": {"parent_region_id": "\u{0}"}})),
        (
            "/endpoints",
            json!({"endpoint": {"service_id": "\u{0}", "interface": "public", "url": "http://x"}}),
        ),
    ];
    for (path, body) in &refused {
        expect(
            format!("POST {path} {body}"),
            app.call("POST", path, token, Some(body)).await,
            &[400],
        );
    }
    let names = [
        (
            "/users",
            json!({"user": {"name": "a\u{0}b", "domain_id": d}}),
        ),
        (
            "/groups",
            json!({"group": {"name": "a\u{0}b", "domain_id": d}}),
        ),
        (
            "/projects",
            json!({"project": {"name": "a\u{0}b", "domain_id": d}}),
        ),
        ("/domains", json!({"domain": {"name": "a\u{0}b"}})),
        (
            "/domains",
            json!({"domain": {"name": "nul-id", "id": "\u{0}"}}),
        ),
        ("/roles", json!({"role": {"name": "a\u{0}b"}})),
        ("/regions", json!({"region": {"id": "a\u{0}b"}})),
    ];
    for (path, body) in &names {
        expect(
            format!("POST {path} {body}"),
            app.call("POST", path, token, Some(body)).await,
            &[201, 400],
        );
    }
    let login = password_auth("\u{0}", "pw", None);
    expect(
        "login as user NUL".into(),
        app.call("POST", "/auth/tokens", None, Some(&login)).await,
        &[401],
    );
    assert!(
        failures.is_empty(),
        "NUL characters broke the API:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn unsupported_media_types_are_refused() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    let before = app.counts().await;
    let body = json!({"user": {"name": unique("xml")}}).to_string();
    for ct in [
        "text/xml",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let r = app
            .raw(
                "POST",
                "/users",
                Some(&app.admin_token),
                &[("content-type", ct)],
                Some(body.clone().into_bytes()),
            )
            .await;
        assert!(
            matches!(r.code(), 400 | 415),
            "Content-Type {ct}: expected 415 or 400, got {}: {}",
            r.code(),
            r.text()
        );
        assert_error(&r, r.code(), &format!("Content-Type {ct}"));
    }
    let xml = b"<user><name>x</name></user>".to_vec();
    let r = app
        .raw(
            "POST",
            "/users",
            Some(&app.admin_token),
            &[("content-type", "text/xml")],
            Some(xml),
        )
        .await;
    assert!(
        matches!(r.code(), 400 | 415),
        "an XML document: {} {}",
        r.code(),
        r.text()
    );
    assert_eq!(
        app.counts().await,
        before,
        "nothing is created by a refused body"
    );
    // JSON with the Keystone media type, or without a Content-Type at all, is fine
    for ct in [
        "application/vnd.openstack.identity-v3+json",
        "application/json; charset=utf-8",
    ] {
        let body =
            json!({"group": {"name": unique("ct"), "domain_id": fx.fill("{D}")}}).to_string();
        let r = app
            .raw(
                "POST",
                "/groups",
                Some(&app.admin_token),
                &[("content-type", ct)],
                Some(body.into_bytes()),
            )
            .await;
        assert_eq!(r.code(), 201, "Content-Type {ct}: {}", r.text());
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_keystone_format() {
    let fx = Fixture::new().await;
    let app = &fx.app;
    let r = app
        .call("GET", "/no-such-collection", Some(&app.admin_token), None)
        .await;
    assert_error(&r, 404, "GET an unknown collection");
    for (method, path) in [
        ("PATCH", "/auth/tokens"),
        ("PUT", "/users"),
        ("POST", "/users/{U}"),
        ("DELETE", "/roles"),
    ] {
        let path = fx.fill(path);
        let r = app
            .call(method, &path, Some(&app.admin_token), Some(&json!({})))
            .await;
        assert_error(&r, 405, &format!("{method} {path}"));
    }
}
