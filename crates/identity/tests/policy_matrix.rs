//! Every identity endpoint, called as every persona, against a table of expected
//! answers (the issue: "A test calls every endpoint as every persona (admin, domain
//! manager, member, reader, a user of another domain, no token) against an
//! expected-outcome table").
//!
//! The world the table runs in:
//!
//! - domains A and B; in A the project PA, a second project `A_project`, the user
//!   `A_user` (member of `A_group`, which holds `member` on PA); in B the project PB,
//!   the user `B_user` in `B_group`;
//! - the personas, each with the token the column is named after:
//!   - `admin`: the bootstrap admin, scoped to the bootstrap `admin` project (cloud admin);
//!   - `mgr`: a user of A with `manager` on domain A, domain-scoped to A;
//!   - `member` / `reader`: users of A with `member` / `reader` on PA, scoped to PA;
//!   - `other`: a user of B with `manager` on domain B, domain-scoped to B: the same
//!     power as `mgr`, in the other domain;
//!   - `anon`: no token at all.
//!
//! Placeholders in paths, bodies and headers: the fixed objects above by name
//! (`{A}`, `{PA}`, `{A_user}`, `{member_role}`, ...), the caller (`{self}`,
//! `{self_password}`, `{self_token}`), a unique string per call (`{uniq}`), and
//! `{new_...}`: an object created afresh (by the admin) for every single call, so
//! that updates and deletes never disturb other rows. `pre` requests run as the
//! admin before each call (to set up what a revoke or delete removes).
//!
//! Statuses: 2xx allowed; 403 refused; 404 the target is in a domain the caller
//! cannot see (Nimbus hides other tenants' objects instead of answering 403);
//! 401 no token. Every 4xx must carry a Keystone error body.

mod support;

use serde_json::Value;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use support::*;

const PERSONAS: [&str; 6] = ["admin", "mgr", "member", "reader", "other", "anon"];

#[derive(Clone, Copy)]
struct Row {
    name: &'static str,
    /// `METHOD /path?query`, relative to `/identity/v3` unless it starts with `/identity`.
    req: &'static str,
    body: &'static str,
    /// `X-Subject-Token` for the `/auth/tokens` calls.
    subject: &'static str,
    /// Requests (`METHOD /path`, JSON body) the admin makes before each call.
    pre: &'static [(&'static str, &'static str)],
    /// The call changes the caller's password: log her in again afterwards.
    relogin: bool,
    /// admin, mgr, member, reader, other, anon
    expect: [u16; 6],
}

const fn row(name: &'static str, req: &'static str, expect: [u16; 6]) -> Row {
    Row {
        name,
        req,
        body: "",
        subject: "",
        pre: &[],
        relogin: false,
        expect,
    }
}

impl Row {
    const fn body(mut self, body: &'static str) -> Row {
        self.body = body;
        self
    }
    const fn subject(mut self, token: &'static str) -> Row {
        self.subject = token;
        self
    }
    const fn pre(mut self, pre: &'static [(&'static str, &'static str)]) -> Row {
        self.pre = pre;
        self
    }
    const fn relogin(mut self) -> Row {
        self.relogin = true;
        self
    }
}

const GRANT_MEMBER_PA: &[(&str, &str)] = &[(
    "PUT /projects/{PA}/users/{new_A_user}/roles/{member_role}",
    "",
)];
const GRANT_ADMIN_PA: &[(&str, &str)] = &[(
    "PUT /projects/{PA}/users/{new_A_user}/roles/{admin_role}",
    "",
)];

#[rustfmt::skip]
const ROWS: &[Row] = &[
    //   name                                          request                                                         admin mgr  member reader other anon
    // --- discovery: public
    row("version list",                                "GET /identity",                                                 [300, 300, 300, 300, 300, 300]),
    row("version list (slash)",                        "GET /identity/",                                                [300, 300, 300, 300, 300, 300]),
    row("v3 version",                                  "GET /identity/v3",                                              [200, 200, 200, 200, 200, 200]),
    row("v3 version (slash)",                          "GET /identity/v3/",                                             [200, 200, 200, 200, 200, 200]),

    // --- tokens: anyone may log in; a token is validated or revoked by its owner or an admin
    row("issue a token with a password",               "POST /auth/tokens",                                             [201, 201, 201, 201, 201, 201])
        .body(r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"id":"{self}","password":"{self_password}"}}}}}"#),
    row("issue a token scoped to PA",                  "POST /auth/tokens",                                             [401, 401, 201, 201, 401, 201])
        .body(r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"id":"{self}","password":"{self_password}"}}},"scope":{"project":{"id":"{PA}"}}}}"#),
    row("issue a token scoped to domain A",            "POST /auth/tokens",                                             [401, 201, 401, 401, 401, 401])
        .body(r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"id":"{self}","password":"{self_password}"}}},"scope":{"domain":{"id":"{A}"}}}}"#),
    row("issue a system-scoped token",                 "POST /auth/tokens",                                             [201, 401, 401, 401, 401, 401])
        .body(r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"id":"{self}","password":"{self_password}"}}},"scope":{"system":{"all":true}}}}"#),
    row("validate own token",                          "GET /auth/tokens",                                              [200, 200, 200, 200, 200, 401]).subject("{self_token}"),
    row("validate the admin's token",                  "GET /auth/tokens",                                              [200, 403, 403, 403, 403, 401]).subject("{admin_token}"),
    row("check own token",                             "HEAD /auth/tokens",                                             [200, 200, 200, 200, 200, 401]).subject("{self_token}"),
    row("check the admin's token",                     "HEAD /auth/tokens",                                             [200, 403, 403, 403, 403, 401]).subject("{admin_token}"),
    row("revoke an own token",                         "DELETE /auth/tokens",                                           [204, 204, 204, 204, 204, 401]).subject("{fresh_token}"),
    row("revoke an admin's token",                     "DELETE /auth/tokens",                                           [204, 403, 403, 403, 403, 401]).subject("{fresh_admin_token}"),
    row("own catalog",                                 "GET /auth/catalog",                                             [200, 200, 200, 200, 200, 401]),
    row("own projects (auth)",                         "GET /auth/projects",                                            [200, 200, 200, 200, 200, 401]),
    row("own domains (auth)",                          "GET /auth/domains",                                             [200, 200, 200, 200, 200, 401]),
    row("own system access (auth)",                    "GET /auth/system",                                              [200, 200, 200, 200, 200, 401]),

    // --- users: domain readers list, domain managers manage, everyone sees herself
    // (members and readers may not list users, but the list answers them with
    // themselves alone, so that the CLI resolves `--user <own name>`)
    row("list users",                                  "GET /users",                                                    [200, 200, 200, 200, 200, 401]),
    row("list users of A",                             "GET /users?domain_id={A}",                                      [200, 200, 200, 200, 404, 401]),
    row("list users of B",                             "GET /users?domain_id={B}",                                      [200, 404, 404, 404, 200, 401]),
    row("create a user in A",                          "POST /users",                                                   [201, 201, 403, 403, 404, 401])
        .body(r#"{"user":{"name":"{uniq}","domain_id":"{A}"}}"#),
    row("create a user in B",                          "POST /users",                                                   [201, 404, 404, 404, 201, 401])
        .body(r#"{"user":{"name":"{uniq}","domain_id":"{B}"}}"#),
    row("create a user in the token's domain",         "POST /users",                                                   [201, 201, 403, 403, 201, 401])
        .body(r#"{"user":{"name":"{uniq}"}}"#),
    row("show a user of A",                            "GET /users/{A_user}",                                           [200, 200, 403, 403, 404, 401]),
    row("show a user of B",                            "GET /users/{B_user}",                                           [200, 404, 404, 404, 200, 401]),
    row("show self",                                   "GET /users/{self}",                                             [200, 200, 200, 200, 200, 401]),
    row("update a user of A",                          "PATCH /users/{new_A_user}",                                     [200, 200, 403, 403, 404, 401])
        .body(r#"{"user":{"description":"{uniq}"}}"#),
    row("update a user of B",                          "PATCH /users/{new_B_user}",                                     [200, 404, 404, 404, 200, 401])
        .body(r#"{"user":{"description":"{uniq}"}}"#),
    row("update self",                                 "PATCH /users/{self}",                                           [200, 200, 403, 403, 200, 401])
        .body(r#"{"user":{"description":"{uniq}"}}"#),
    row("delete a user of A",                          "DELETE /users/{new_A_user}",                                    [204, 204, 403, 403, 404, 401]),
    row("delete a user of B",                          "DELETE /users/{new_B_user}",                                    [204, 404, 404, 404, 204, 401]),
    row("change another user's password",              "POST /users/{A_user}/password",                                 [403, 403, 403, 403, 404, 401])
        .body(r#"{"user":{"password":"New-pw-1","original_password":"not-hers"}}"#),
    row("groups of a user of A",                       "GET /users/{A_user}/groups",                                    [200, 200, 403, 403, 404, 401]),
    row("groups of a user of B",                       "GET /users/{B_user}/groups",                                    [200, 404, 404, 404, 200, 401]),
    row("own groups",                                  "GET /users/{self}/groups",                                      [200, 200, 200, 200, 200, 401]),
    row("projects of a user of A",                     "GET /users/{A_user}/projects",                                  [200, 200, 403, 403, 404, 401]),
    row("projects of a user of B",                     "GET /users/{B_user}/projects",                                  [200, 404, 404, 404, 200, 401]),
    row("own projects",                                "GET /users/{self}/projects",                                    [200, 200, 200, 200, 200, 401]),

    // --- application credentials: their user's (and the cloud admin's) business only.
    // They are created with a project-scoped token (mgr and other hold domain tokens).
    // Another user's credentials answer 403 even across domains: the user is not looked
    // up, so the answer is the same whether she exists or not and leaks nothing.
    row("list own application credentials",            "GET /users/{self}/application_credentials",                     [200, 200, 200, 200, 200, 401]),
    row("list a user of A's application credentials",  "GET /users/{A_user}/application_credentials",                   [200, 403, 403, 403, 403, 401]),
    row("create an own application credential",        "POST /users/{self}/application_credentials",                    [201, 403, 201, 201, 403, 401])
        .body(r#"{"application_credential":{"name":"{uniq}"}}"#),
    row("create another user's application credential", "POST /users/{A_user}/application_credentials",                [403, 403, 403, 403, 403, 401])
        .body(r#"{"application_credential":{"name":"{uniq}"}}"#),
    row("show the member's application credential",    "GET /users/{member}/application_credentials/{member_cred}",     [200, 403, 200, 403, 403, 401]),
    row("delete the member's application credential",  "DELETE /users/{member}/application_credentials/{new_member_cred}", [204, 403, 204, 403, 403, 401]),

    // --- credentials (`/v3/credentials`): their user's (and the cloud admin's) only.
    // Somebody else's credential answers 404 (it is not there for the caller). The
    // rows use type ec2: a totp credential would make the member's logins need MFA.
    row("list own credentials",                        "GET /credentials",                                              [200, 200, 200, 200, 200, 401]),
    row("list the member's credentials",               "GET /credentials?user_id={member}",                             [200, 403, 200, 403, 403, 401]),
    row("create an own credential",                    "POST /credentials",                                             [201, 201, 201, 201, 201, 401])
        .body(r#"{"credential":{"type":"ec2","blob":"{uniq}","user_id":"{self}"}}"#),
    row("create a credential for the member",          "POST /credentials",                                             [201, 403, 201, 403, 403, 401])
        .body(r#"{"credential":{"type":"ec2","blob":"{uniq}","user_id":"{member}"}}"#),
    row("show the member's credential",                "GET /credentials/{new_member_ec2}",                             [200, 404, 200, 404, 404, 401]),
    row("update the member's credential",              "PATCH /credentials/{new_member_ec2}",                           [200, 404, 200, 404, 404, 401])
        .body(r#"{"credential":{"blob":"{uniq}"}}"#),
    row("delete the member's credential",              "DELETE /credentials/{new_member_ec2}",                          [204, 404, 204, 404, 404, 401]),

    // --- domains: the cloud admin's; everyone sees the domain she acts in
    row("list domains (others: their own)",            "GET /domains",                                                  [200, 200, 200, 200, 200, 401]),
    row("create a domain",                             "POST /domains",                                                 [201, 403, 403, 403, 403, 401])
        .body(r#"{"domain":{"name":"{uniq}"}}"#),
    row("show domain A",                               "GET /domains/{A}",                                              [200, 200, 200, 200, 404, 401]),
    row("show domain B",                               "GET /domains/{B}",                                              [200, 404, 404, 404, 200, 401]),
    row("update domain A",                             "PATCH /domains/{A}",                                            [200, 403, 403, 403, 404, 401])
        .body(r#"{"domain":{"description":"{uniq}"}}"#),
    row("update domain B",                             "PATCH /domains/{B}",                                            [200, 404, 404, 404, 403, 401])
        .body(r#"{"domain":{"description":"{uniq}"}}"#),
    row("delete a disabled domain",                    "DELETE /domains/{new_domain}",                                  [204, 404, 404, 404, 404, 401])
        .pre(&[("PATCH /domains/{new_domain}", r#"{"domain":{"enabled":false}}"#)]),
    row("delete an enabled domain (disable it first)", "DELETE /domains/{new_domain}",                                  [403, 404, 404, 404, 404, 401]),

    // --- projects: domain readers list, domain managers manage, members see theirs
    row("list projects",                               "GET /projects",                                                 [200, 200, 403, 403, 200, 401]),
    row("list projects of B",                          "GET /projects?domain_id={B}",                                   [200, 404, 404, 404, 200, 401]),
    row("create a project in A",                       "POST /projects",                                                [201, 201, 403, 403, 404, 401])
        .body(r#"{"project":{"name":"{uniq}","domain_id":"{A}"}}"#),
    row("create a project in B",                       "POST /projects",                                                [201, 404, 404, 404, 201, 401])
        .body(r#"{"project":{"name":"{uniq}","domain_id":"{B}"}}"#),
    row("create a project under a project of B",       "POST /projects",                                                [201, 404, 404, 404, 201, 401])
        .body(r#"{"project":{"name":"{uniq}","parent_id":"{PB}"}}"#),
    row("show own project PA",                         "GET /projects/{PA}",                                            [200, 200, 200, 200, 404, 401]),
    row("show another project of A",                   "GET /projects/{A_project}",                                     [200, 200, 403, 403, 404, 401]),
    row("show a project of B",                         "GET /projects/{PB}",                                            [200, 404, 404, 404, 200, 401]),
    row("update own project PA",                       "PATCH /projects/{PA}",                                          [200, 200, 403, 403, 404, 401])
        .body(r#"{"project":{"description":"{uniq}"}}"#),
    row("update a project of A",                       "PATCH /projects/{new_A_project}",                               [200, 200, 403, 403, 404, 401])
        .body(r#"{"project":{"description":"{uniq}"}}"#),
    row("update a project of B",                       "PATCH /projects/{new_B_project}",                               [200, 404, 404, 404, 200, 401])
        .body(r#"{"project":{"description":"{uniq}"}}"#),
    row("delete a project of A",                       "DELETE /projects/{new_A_project}",                              [204, 204, 403, 403, 404, 401]),
    row("delete a project of B",                       "DELETE /projects/{new_B_project}",                              [204, 404, 404, 404, 204, 401]),

    // --- groups and membership
    row("list groups",                                 "GET /groups",                                                   [200, 200, 403, 403, 200, 401]),
    row("list groups of B",                            "GET /groups?domain_id={B}",                                     [200, 404, 404, 404, 200, 401]),
    row("create a group in A",                         "POST /groups",                                                  [201, 201, 403, 403, 404, 401])
        .body(r#"{"group":{"name":"{uniq}","domain_id":"{A}"}}"#),
    row("create a group in B",                         "POST /groups",                                                  [201, 404, 404, 404, 201, 401])
        .body(r#"{"group":{"name":"{uniq}","domain_id":"{B}"}}"#),
    row("show a group of A",                           "GET /groups/{A_group}",                                         [200, 200, 403, 403, 404, 401]),
    row("show a group of B",                           "GET /groups/{B_group}",                                         [200, 404, 404, 404, 200, 401]),
    row("update a group of A",                         "PATCH /groups/{new_A_group}",                                   [200, 200, 403, 403, 404, 401])
        .body(r#"{"group":{"description":"{uniq}"}}"#),
    row("update a group of B",                         "PATCH /groups/{new_B_group}",                                   [200, 404, 404, 404, 200, 401])
        .body(r#"{"group":{"description":"{uniq}"}}"#),
    row("delete a group of A",                         "DELETE /groups/{new_A_group}",                                  [204, 204, 403, 403, 404, 401]),
    row("delete a group of B",                         "DELETE /groups/{new_B_group}",                                  [204, 404, 404, 404, 204, 401]),
    row("list members of a group of A",                "GET /groups/{A_group}/users",                                   [200, 200, 403, 403, 404, 401]),
    row("list members of a group of B",                "GET /groups/{B_group}/users",                                   [200, 404, 404, 404, 200, 401]),
    row("add a user of A to a group of A",             "PUT /groups/{new_A_group}/users/{A_user}",                      [204, 204, 403, 403, 404, 401]),
    row("add a user of B to a group of B",             "PUT /groups/{new_B_group}/users/{B_user}",                      [204, 404, 404, 404, 204, 401]),
    row("add a user of B to a group of A",             "PUT /groups/{new_A_group}/users/{B_user}",                      [204, 404, 403, 403, 404, 401]),
    row("check membership",                            "HEAD /groups/{A_group}/users/{A_user}",                         [204, 204, 403, 403, 404, 401]),
    row("remove a user of A from a group of A",        "DELETE /groups/{new_A_group}/users/{A_user}",                   [204, 204, 403, 403, 404, 401])
        .pre(&[("PUT /groups/{new_A_group}/users/{A_user}", "")]),
    row("remove a user of B from a group of B",        "DELETE /groups/{new_B_group}/users/{B_user}",                   [204, 404, 404, 404, 204, 401])
        .pre(&[("PUT /groups/{new_B_group}/users/{B_user}", "")]),

    // --- roles and implications: readable by anyone with a token, managed by the cloud admin
    row("list roles",                                  "GET /roles",                                                    [200, 200, 200, 200, 200, 401]),
    row("show a role",                                 "GET /roles/{admin_role}",                                       [200, 200, 200, 200, 200, 401]),
    row("create a role",                               "POST /roles",                                                   [201, 403, 403, 403, 403, 401])
        .body(r#"{"role":{"name":"{uniq}"}}"#),
    row("update a role",                               "PATCH /roles/{new_role}",                                       [200, 403, 403, 403, 403, 401])
        .body(r#"{"role":{"description":"{uniq}"}}"#),
    row("delete a role",                               "DELETE /roles/{new_role}",                                      [204, 403, 403, 403, 403, 401]),
    row("list the roles a role implies",               "GET /roles/{admin_role}/implies",                               [200, 200, 200, 200, 200, 401]),
    row("create an implied role",                      "PUT /roles/{new_role}/implies/{reader_role}",                   [201, 403, 403, 403, 403, 401]),
    row("show an implied role",                        "GET /roles/{admin_role}/implies/{manager_role}",                [200, 200, 200, 200, 200, 401]),
    row("check an implied role",                       "HEAD /roles/{admin_role}/implies/{manager_role}",               [204, 204, 204, 204, 204, 401]),
    row("delete an implied role",                      "DELETE /roles/{new_role}/implies/{reader_role}",                [204, 403, 403, 403, 403, 401])
        .pre(&[("PUT /roles/{new_role}/implies/{reader_role}", "")]),
    row("list role inference rules",                   "GET /role_inferences",                                          [200, 200, 200, 200, 200, 401]),

    // --- grants on projects: a domain manager grants manager/member/reader in her domain, never admin
    row("list a user's roles on PA",                   "GET /projects/{PA}/users/{member}/roles",                       [200, 200, 403, 403, 404, 401]),
    row("check a user's role on PA (HEAD)",            "HEAD /projects/{PA}/users/{member}/roles/{member_role}",        [204, 204, 403, 403, 404, 401]),
    row("check a user's role on PA (GET)",             "GET /projects/{PA}/users/{member}/roles/{member_role}",         [204, 204, 403, 403, 404, 401]),
    row("grant member on PA to a user of A",           "PUT /projects/{PA}/users/{new_A_user}/roles/{member_role}",     [204, 204, 403, 403, 404, 401]),
    row("grant manager on PA to a user of A",          "PUT /projects/{PA}/users/{new_A_user}/roles/{manager_role}",    [204, 204, 403, 403, 404, 401]),
    row("grant reader on PA to a user of A",           "PUT /projects/{PA}/users/{new_A_user}/roles/{reader_role}",     [204, 204, 403, 403, 404, 401]),
    row("grant admin on PA to a user of A",            "PUT /projects/{PA}/users/{new_A_user}/roles/{admin_role}",      [204, 403, 403, 403, 404, 401]),
    row("grant member on PB to a user of B",           "PUT /projects/{PB}/users/{new_B_user}/roles/{member_role}",     [204, 404, 404, 404, 204, 401]),
    row("grant member on PA to a user of B",           "PUT /projects/{PA}/users/{new_B_user}/roles/{member_role}",     [204, 404, 403, 403, 404, 401]),
    row("grant member on PB to a user of A",           "PUT /projects/{PB}/users/{new_A_user}/roles/{member_role}",     [204, 404, 404, 404, 404, 401]),
    row("grant member on the admin project",           "PUT /projects/{admin_project}/users/{new_A_user}/roles/{member_role}", [204, 404, 404, 404, 404, 401]),
    row("revoke member on PA",                         "DELETE /projects/{PA}/users/{new_A_user}/roles/{member_role}",  [204, 204, 403, 403, 404, 401])
        .pre(GRANT_MEMBER_PA),
    row("revoke admin on PA",                          "DELETE /projects/{PA}/users/{new_A_user}/roles/{admin_role}",   [204, 403, 403, 403, 404, 401])
        .pre(GRANT_ADMIN_PA),
    row("list a group's roles on PA",                  "GET /projects/{PA}/groups/{A_group}/roles",                     [200, 200, 403, 403, 404, 401]),
    row("check a group's role on PA",                  "HEAD /projects/{PA}/groups/{A_group}/roles/{member_role}",      [204, 204, 403, 403, 404, 401]),
    row("grant reader on PA to a group of A",          "PUT /projects/{PA}/groups/{new_A_group}/roles/{reader_role}",   [204, 204, 403, 403, 404, 401]),
    row("grant admin on PA to a group of A",           "PUT /projects/{PA}/groups/{new_A_group}/roles/{admin_role}",    [204, 403, 403, 403, 404, 401]),
    row("grant reader on PB to a group of B",          "PUT /projects/{PB}/groups/{new_B_group}/roles/{reader_role}",   [204, 404, 404, 404, 204, 401]),
    row("revoke reader on PA from a group of A",       "DELETE /projects/{PA}/groups/{new_A_group}/roles/{reader_role}", [204, 204, 403, 403, 404, 401])
        .pre(&[("PUT /projects/{PA}/groups/{new_A_group}/roles/{reader_role}", "")]),

    // --- grants on domains
    row("list a user's roles on A",                    "GET /domains/{A}/users/{manager}/roles",                        [200, 200, 403, 403, 404, 401]),
    row("check a user's role on A",                    "HEAD /domains/{A}/users/{manager}/roles/{manager_role}",        [204, 204, 403, 403, 404, 401]),
    row("grant member on A to a user of A",            "PUT /domains/{A}/users/{new_A_user}/roles/{member_role}",       [204, 204, 403, 403, 404, 401]),
    row("grant admin on A to a user of A",             "PUT /domains/{A}/users/{new_A_user}/roles/{admin_role}",        [204, 403, 403, 403, 404, 401]),
    row("grant oneself admin on A",                    "PUT /domains/{A}/users/{self}/roles/{admin_role}",              [204, 403, 403, 403, 404, 401]),
    row("grant member on B to a user of B",            "PUT /domains/{B}/users/{new_B_user}/roles/{member_role}",       [204, 404, 404, 404, 204, 401]),
    row("revoke member on A from a user of A",         "DELETE /domains/{A}/users/{new_A_user}/roles/{member_role}",    [204, 204, 403, 403, 404, 401])
        .pre(&[("PUT /domains/{A}/users/{new_A_user}/roles/{member_role}", "")]),
    row("list a group's roles on A",                   "GET /domains/{A}/groups/{A_group}/roles",                       [200, 200, 403, 403, 404, 401]),
    row("grant reader on A to a group of A",           "PUT /domains/{A}/groups/{new_A_group}/roles/{reader_role}",     [204, 204, 403, 403, 404, 401]),
    row("grant admin on A to a group of A",            "PUT /domains/{A}/groups/{new_A_group}/roles/{admin_role}",      [204, 403, 403, 403, 404, 401]),
    row("check a group's role on A",                   "HEAD /domains/{A}/groups/{new_A_group}/roles/{reader_role}",    [204, 204, 403, 403, 404, 401])
        .pre(&[("PUT /domains/{A}/groups/{new_A_group}/roles/{reader_role}", "")]),
    row("revoke reader on A from a group of A",        "DELETE /domains/{A}/groups/{new_A_group}/roles/{reader_role}",  [204, 204, 403, 403, 404, 401])
        .pre(&[("PUT /domains/{A}/groups/{new_A_group}/roles/{reader_role}", "")]),

    // --- grants on the system: the cloud admin's alone
    row("list a user's system roles",                  "GET /system/users/{admin}/roles",                               [200, 403, 403, 403, 403, 401]),
    row("check a user's system role (HEAD)",           "HEAD /system/users/{admin}/roles/{admin_role}",                 [204, 403, 403, 403, 403, 401]),
    row("check a user's system role (GET)",            "GET /system/users/{admin}/roles/{admin_role}",                  [204, 403, 403, 403, 403, 401]),
    row("grant a system role to a user",               "PUT /system/users/{new_A_user}/roles/{reader_role}",            [204, 403, 403, 403, 403, 401]),
    row("revoke a system role from a user",            "DELETE /system/users/{new_A_user}/roles/{reader_role}",         [204, 403, 403, 403, 403, 401])
        .pre(&[("PUT /system/users/{new_A_user}/roles/{reader_role}", "")]),
    row("list a group's system roles",                 "GET /system/groups/{A_group}/roles",                            [200, 403, 403, 403, 403, 401]),
    row("grant a system role to a group",              "PUT /system/groups/{new_A_group}/roles/{reader_role}",          [204, 403, 403, 403, 403, 401]),
    row("check a group's system role",                 "HEAD /system/groups/{new_A_group}/roles/{reader_role}",         [204, 403, 403, 403, 403, 401])
        .pre(&[("PUT /system/groups/{new_A_group}/roles/{reader_role}", "")]),
    row("revoke a system role from a group",           "DELETE /system/groups/{new_A_group}/roles/{reader_role}",       [204, 403, 403, 403, 403, 401])
        .pre(&[("PUT /system/groups/{new_A_group}/roles/{reader_role}", "")]),

    // --- role assignments: domain readers see their domain's, everyone her own. As in
    // upstream Keystone (keystone/api/role_assignments.py), a domain-scoped token may list
    // with any filter and gets the assignments in its domain only (for `other` and a user
    // of A: an empty list, which reveals nothing).
    row("list role assignments",                       "GET /role_assignments",                                         [200, 200, 403, 403, 200, 401]),
    row("list role assignments in A",                  "GET /role_assignments?scope.domain.id={A}",                     [200, 200, 403, 403, 404, 401]),
    row("list role assignments in B",                  "GET /role_assignments?scope.domain.id={B}",                     [200, 404, 404, 404, 200, 401]),
    row("list role assignments on PA",                 "GET /role_assignments?scope.project.id={PA}",                   [200, 200, 403, 403, 404, 401]),
    row("list own role assignments",                   "GET /role_assignments?user.id={self}",                          [200, 200, 200, 200, 200, 401]),
    row("list a user of A's role assignments",         "GET /role_assignments?user.id={A_user}",                        [200, 200, 403, 403, 200, 401]),

    // --- the catalog: readable by anyone with a token, managed by the cloud admin
    row("list regions",                                "GET /regions",                                                  [200, 200, 200, 200, 200, 401]),
    row("show a region",                               "GET /regions/RegionOne",                                        [200, 200, 200, 200, 200, 401]),
    row("create a region",                             "POST /regions",                                                 [201, 403, 403, 403, 403, 401])
        .body(r#"{"region":{"description":"{uniq}"}}"#),
    row("update a region",                             "PATCH /regions/{new_region}",                                   [200, 403, 403, 403, 403, 401])
        .body(r#"{"region":{"description":"{uniq}"}}"#),
    row("delete a region",                             "DELETE /regions/{new_region}",                                  [204, 403, 403, 403, 403, 401]),
    row("list services",                               "GET /services",                                                 [200, 200, 200, 200, 200, 401]),
    row("show a service",                              "GET /services/{identity_service}",                              [200, 200, 200, 200, 200, 401]),
    row("create a service",                            "POST /services",                                                [201, 403, 403, 403, 403, 401])
        .body(r#"{"service":{"type":"{uniq}","name":"{uniq}"}}"#),
    row("update a service",                            "PATCH /services/{new_service}",                                 [200, 403, 403, 403, 403, 401])
        .body(r#"{"service":{"description":"{uniq}"}}"#),
    row("delete a service",                            "DELETE /services/{new_service}",                                [204, 403, 403, 403, 403, 401]),
    row("list endpoints",                              "GET /endpoints",                                                [200, 200, 200, 200, 200, 401]),
    row("show an endpoint",                            "GET /endpoints/{identity_endpoint}",                            [200, 200, 200, 200, 200, 401]),
    row("create an endpoint",                          "POST /endpoints",                                               [201, 403, 403, 403, 403, 401])
        .body(r#"{"endpoint":{"service_id":"{spare_service}","interface":"public","url":"http://127.0.0.1:9/{uniq}"}}"#),
    row("update an endpoint",                          "PATCH /endpoints/{new_endpoint}",                               [200, 403, 403, 403, 403, 401])
        .body(r#"{"endpoint":{"url":"http://127.0.0.1:9/{uniq}"}}"#),
    row("delete an endpoint",                          "DELETE /endpoints/{new_endpoint}",                              [204, 403, 403, 403, 403, 401]),

    // --- the audit trail: cloud admins (and system readers) only
    row("list audit records",                          "GET /audit_records",                                            [200, 403, 403, 403, 403, 401]),

    // --- changing one's password: only one's own (this revokes the caller's tokens)
    row("change own password",                         "POST /users/{self}/password",                                   [204, 204, 204, 204, 204, 401])
        .body(r#"{"user":{"password":"{self_password}","original_password":"{self_password}"}}"#)
        .relogin(),
];

/// A caller: the user behind a column, and how she logs in.
struct Persona {
    user_id: String,
    password: String,
    scope: Option<Value>,
    /// `None` for `anon`, who sends no token (her `{self}` is the member's).
    token: Option<String>,
}

struct World {
    app: App,
    vars: HashMap<&'static str, String>,
    personas: Vec<Persona>,
}

/// The `{name}` placeholders in a template, in order.
fn placeholders(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        rest = &rest[start + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end > 0 && rest[end..].starts_with('}') {
            out.push(rest[..end].to_string());
            rest = &rest[end + 1..];
        }
    }
    out
}

fn fill(template: &str, vars: &HashMap<String, String>) -> String {
    let mut s = template.to_string();
    for name in placeholders(template) {
        let v = vars
            .get(&name)
            .unwrap_or_else(|| panic!("unknown placeholder {{{name}}} in {template:?}"));
        s = s.replace(&format!("{{{name}}}"), v);
    }
    s
}

impl World {
    async fn new() -> World {
        let app = App::new().await;
        let dom_a = app.create_domain(&unique("domA")).await;
        let dom_b = app.create_domain(&unique("domB")).await;
        let pa = app.create_project(&dom_a, &unique("PA")).await;
        let pb = app.create_project(&dom_b, &unique("PB")).await;
        let a_project = app.create_project(&dom_a, &unique("A-project")).await;
        let a_user = app.create_user(&dom_a, &unique("A-user"), None).await;
        let b_user = app.create_user(&dom_b, &unique("B-user"), None).await;
        let a_group = app.create_group(&dom_a, &unique("A-group")).await;
        let b_group = app.create_group(&dom_b, &unique("B-group")).await;
        app.admin("PUT", &format!("/groups/{a_group}/users/{a_user}"), None)
            .await;
        app.admin("PUT", &format!("/groups/{b_group}/users/{b_user}"), None)
            .await;

        let roles = [
            ("admin_role", app.role_id("admin").await),
            ("manager_role", app.role_id("manager").await),
            ("member_role", app.role_id("member").await),
            ("reader_role", app.role_id("reader").await),
        ];
        let role = |n: &str| {
            roles
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.clone())
                .expect("role")
        };
        app.admin(
            "PUT",
            &format!(
                "/projects/{pa}/groups/{a_group}/roles/{}",
                role("member_role")
            ),
            None,
        )
        .await;

        // The personas: (column, domain, role, where).
        let password = "Persona-pw-1";
        let mgr = app
            .create_user(&dom_a, &unique("mgr"), Some(password))
            .await;
        let member = app
            .create_user(&dom_a, &unique("member"), Some(password))
            .await;
        let reader = app
            .create_user(&dom_a, &unique("reader"), Some(password))
            .await;
        let other = app
            .create_user(&dom_b, &unique("other"), Some(password))
            .await;
        app.admin(
            "PUT",
            &format!(
                "/domains/{dom_a}/users/{mgr}/roles/{}",
                role("manager_role")
            ),
            None,
        )
        .await;
        app.admin(
            "PUT",
            &format!(
                "/projects/{pa}/users/{member}/roles/{}",
                role("member_role")
            ),
            None,
        )
        .await;
        app.admin(
            "PUT",
            &format!(
                "/projects/{pa}/users/{reader}/roles/{}",
                role("reader_role")
            ),
            None,
        )
        .await;
        app.admin(
            "PUT",
            &format!(
                "/domains/{dom_b}/users/{other}/roles/{}",
                role("manager_role")
            ),
            None,
        )
        .await;

        let mut personas = vec![Persona {
            user_id: app.admin_user_id.clone(),
            password: ADMIN_PASSWORD.into(),
            scope: project_scope(&app.admin_project_id),
            token: Some(app.admin_token.clone()),
        }];
        for (user, scope) in [
            (&mgr, domain_scope(&dom_a)),
            (&member, project_scope(&pa)),
            (&reader, project_scope(&pa)),
            (&other, domain_scope(&dom_b)),
        ] {
            let token = app
                .login(&password_auth(user, password, scope.clone()))
                .await;
            personas.push(Persona {
                user_id: user.clone(),
                password: password.into(),
                scope,
                token: Some(token),
            });
        }
        personas.push(Persona {
            user_id: member.clone(),
            password: password.into(),
            scope: project_scope(&pa),
            token: None,
        });

        // A credential of the member, made with her own token.
        let r = app
            .call(
                "POST",
                &format!("/users/{member}/application_credentials"),
                personas[2].token.as_deref(),
                Some(&serde_json::json!({"application_credential": {"name": unique("cred")}})),
            )
            .await;
        assert_eq!(
            r.code(),
            201,
            "member's application credential: {}",
            r.text()
        );
        let member_cred = r.json().expect("json")["application_credential"]["id"]
            .as_str()
            .expect("id")
            .to_string();

        let services = app.admin("GET", "/services?type=identity", None).await;
        let identity_service = services["services"][0]["id"]
            .as_str()
            .expect("identity service")
            .to_string();
        let endpoints = app
            .admin(
                "GET",
                &format!("/endpoints?service_id={identity_service}"),
                None,
            )
            .await;
        let identity_endpoint = endpoints["endpoints"][0]["id"]
            .as_str()
            .expect("identity endpoint")
            .to_string();
        let spare = app
            .admin(
                "POST",
                "/services",
                Some(serde_json::json!({"service": {"type": unique("spare"), "name": "spare"}})),
            )
            .await;
        let spare_service = spare["service"]["id"]
            .as_str()
            .expect("service id")
            .to_string();

        let mut vars: HashMap<&'static str, String> = HashMap::from([
            ("A", dom_a),
            ("B", dom_b),
            ("PA", pa),
            ("PB", pb),
            ("A_project", a_project),
            ("A_user", a_user),
            ("B_user", b_user),
            ("A_group", a_group),
            ("B_group", b_group),
            ("admin", app.admin_user_id.clone()),
            ("manager", mgr),
            ("member", member),
            ("reader", reader),
            ("other", other),
            ("member_cred", member_cred),
            ("identity_service", identity_service),
            ("identity_endpoint", identity_endpoint),
            ("spare_service", spare_service),
            ("admin_token", app.admin_token.clone()),
            ("admin_project", app.admin_project_id.clone()),
        ]);
        for (k, v) in roles {
            vars.insert(k, v);
        }
        World {
            app,
            vars,
            personas,
        }
    }

    /// Creates a `{new_...}` object (or a fresh token) for one call of `persona`.
    async fn fresh(&self, name: &str, persona: usize) -> String {
        let app = &self.app;
        let n = unique("fresh");
        let v = |k: &str| self.vars[k].clone();
        let id_of = |v: Value, key: &str| {
            v[key]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("no {key} id in {v}"))
                .to_string()
        };
        match name {
            "uniq" => n,
            "new_A_user" => app.create_user(&v("A"), &n, None).await,
            "new_B_user" => app.create_user(&v("B"), &n, None).await,
            "new_A_group" => app.create_group(&v("A"), &n).await,
            "new_B_group" => app.create_group(&v("B"), &n).await,
            "new_A_project" => app.create_project(&v("A"), &n).await,
            "new_B_project" => app.create_project(&v("B"), &n).await,
            "new_domain" => app.create_domain(&n).await,
            "new_role" => id_of(app.admin("POST", "/roles", Some(serde_json::json!({"role": {"name": n}}))).await, "role"),
            "new_region" => {
                id_of(app.admin("POST", "/regions", Some(serde_json::json!({"region": {"description": n}}))).await, "region")
            }
            "new_service" => id_of(
                app.admin("POST", "/services", Some(serde_json::json!({"service": {"type": n, "name": n}}))).await,
                "service",
            ),
            "new_endpoint" => id_of(
                app.admin(
                    "POST",
                    "/endpoints",
                    Some(serde_json::json!({"endpoint": {
                        "service_id": v("spare_service"), "interface": "internal", "url": format!("http://127.0.0.1:9/{n}")
                    }})),
                )
                .await,
                "endpoint",
            ),
            "new_member_cred" => {
                let r = app
                    .call(
                        "POST",
                        &format!("/users/{}/application_credentials", v("member")),
                        self.personas[2].token.as_deref(),
                        Some(&serde_json::json!({"application_credential": {"name": n}})),
                    )
                    .await;
                assert_eq!(r.code(), 201, "fresh application credential: {}", r.text());
                id_of(r.json().expect("json"), "application_credential")
            }
            "new_member_ec2" => id_of(
                app.admin(
                    "POST",
                    "/credentials",
                    Some(serde_json::json!({"credential": {
                        "type": "ec2", "blob": n, "user_id": v("member")
                    }})),
                )
                .await,
                "credential",
            ),
            "fresh_token" => {
                let p = &self.personas[persona];
                app.login(&password_auth(&p.user_id, &p.password, None)).await
            }
            "fresh_admin_token" => app.login(&password_auth(&self.app.admin_user_id, ADMIN_PASSWORD, None)).await,
            other => panic!("unknown placeholder {{{other}}}"),
        }
    }

    /// Makes one call of `row` as persona `p`; `Err` says what went wrong.
    async fn cell(&mut self, row: &Row, p: usize) -> Result<(), String> {
        let persona = &self.personas[p];
        let mut vars: HashMap<String, String> = self
            .vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        vars.insert("self".into(), persona.user_id.clone());
        vars.insert("self_password".into(), persona.password.clone());
        let own_token = persona
            .token
            .clone()
            .or_else(|| self.personas[2].token.clone())
            .unwrap_or_default();
        vars.insert("self_token".into(), own_token);
        let mut templates: Vec<&str> = vec![row.req, row.body, row.subject];
        for (req, body) in row.pre {
            templates.push(req);
            templates.push(body);
        }
        for name in templates.iter().flat_map(|t| placeholders(t)) {
            if let Entry::Vacant(slot) = vars.entry(name) {
                let value = self.fresh(slot.key(), p).await;
                slot.insert(value);
            }
        }
        for (req, body) in row.pre {
            let (method, path) = req.split_once(' ').expect("METHOD /path");
            let body = (!body.is_empty())
                .then(|| serde_json::from_str(&fill(body, &vars)).expect("pre body is JSON"));
            self.app.admin(method, &fill(path, &vars), body).await;
        }

        let (method, path) = row.req.split_once(' ').expect("METHOD /path");
        let path = fill(path, &vars);
        let subject = fill(row.subject, &vars);
        let headers: Vec<(&str, &str)> = if subject.is_empty() {
            vec![]
        } else {
            vec![("x-subject-token", subject.as_str())]
        };
        let body = (!row.body.is_empty()).then(|| fill(row.body, &vars).into_bytes());
        let token = self.personas[p].token.clone();
        let r = self
            .app
            .raw(method, &path, token.as_deref(), &headers, body)
            .await;

        let expected = row.expect[p];
        if r.code() != expected {
            return Err(format!(
                "{method} {path}: expected {expected}, got {}: {}",
                r.code(),
                r.text()
            ));
        }
        if r.status.is_client_error() && method != "HEAD" {
            if let Some(problem) = r.keystone_error_problem() {
                return Err(format!("{method} {path}: {problem}"));
            }
        }
        if row.relogin && r.status.is_success() {
            let persona = &self.personas[p];
            let token = self
                .app
                .login(&password_auth(
                    &persona.user_id,
                    &persona.password,
                    persona.scope.clone(),
                ))
                .await;
            if p == 0 {
                self.app.admin_token = token.clone();
                self.vars.insert("admin_token", token.clone());
            }
            if self.personas[p].token.is_some() {
                self.personas[p].token = Some(token);
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn every_endpoint_as_every_persona() {
    let mut world = World::new().await;
    let mut failures = Vec::new();
    for row in ROWS {
        for (p, persona) in PERSONAS.iter().enumerate() {
            if let Err(e) = world.cell(row, p).await {
                failures.push(format!("row {:?} as {persona}: {e}", row.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} calls did not answer as the table says:\n  {}",
        failures.len(),
        ROWS.len() * PERSONAS.len(),
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------
// The table covers every route: the routes are read from the router's source, so a
// route added without a row fails here.

/// `(method, path template)` of every route in `crates/identity/src/api/mod.rs`.
fn declared_routes() -> BTreeSet<(String, String)> {
    let src = include_str!("../src/api/mod.rs");
    let mut routes = BTreeSet::new();
    let mut rest = src;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        // the argument list, up to the matching parenthesis
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("balanced .route(...)");
        let args = &rest[..end];
        rest = &rest[end..];
        let (path_arg, handlers) = args.split_once(',').expect("route(path, handlers)");
        let path_arg = path_arg.trim();
        let path = if path_arg == "V3" {
            "/identity/v3".to_string()
        } else {
            let lit = path_arg.split('"').nth(1).expect("a path literal");
            if path_arg.starts_with("&r(") {
                format!("/identity/v3{lit}")
            } else {
                lit.to_string()
            }
        };
        // method names called at the top level of the handler chain: get(..).post(..)
        let mut depth = 0;
        let mut word = String::new();
        for c in handlers.chars() {
            match c {
                '(' => {
                    if depth == 0
                        && ["get", "post", "put", "patch", "delete", "head"]
                            .contains(&word.as_str())
                    {
                        routes.insert((word.to_uppercase(), path.clone()));
                    }
                    depth += 1;
                    word.clear();
                }
                ')' => {
                    depth -= 1;
                    word.clear();
                }
                c if c.is_ascii_alphanumeric() || c == '_' => word.push(c),
                _ => word.clear(),
            }
        }
    }
    routes
}

fn segments(path: &str) -> Vec<&str> {
    path.split('?')
        .next()
        .unwrap_or("")
        .split('/')
        .skip(1)
        .collect()
}

/// The route a request template is served by: same number of segments, literal
/// segments equal, the most literal route winning (as in axum).
fn route_of<'a>(
    routes: &'a BTreeSet<(String, String)>,
    method: &str,
    path: &str,
) -> Option<&'a (String, String)> {
    let want = segments(path);
    routes
        .iter()
        .filter(|(m, _)| m == method)
        .filter(|(_, r)| {
            let have = segments(r);
            have.len() == want.len()
                && have
                    .iter()
                    .zip(&want)
                    .all(|(h, w)| h.starts_with('{') || (!w.starts_with('{') && h == w))
        })
        .max_by_key(|(_, r)| segments(r).iter().filter(|s| !s.starts_with('{')).count())
}

#[test]
fn the_table_covers_every_route() {
    let routes = declared_routes();
    assert!(
        routes.len() > 60,
        "parsed only {} routes from api/mod.rs: {routes:?}",
        routes.len()
    );
    let mut covered = BTreeSet::new();
    for row in ROWS {
        let (method, path) = row.req.split_once(' ').expect("METHOD /path");
        let full = if path.starts_with("/identity") {
            path.to_string()
        } else {
            format!("{V3}{path}")
        };
        let route = route_of(&routes, method, &full)
            .unwrap_or_else(|| panic!("row {:?}: {method} {full} matches no route", row.name));
        covered.insert(route.clone());
    }
    let missing: Vec<_> = routes.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the policy table: {missing:?}"
    );
}

#[test]
fn placeholders_are_found_in_json_templates() {
    assert_eq!(
        placeholders(r#"{"user":{"name":"{uniq}","domain_id":"{A}"}}"#),
        vec!["uniq", "A"]
    );
    assert_eq!(
        placeholders("/projects/{PA}/users/{new_A_user}/roles"),
        vec!["PA", "new_A_user"]
    );
}

// ---------------------------------------------------------------------------------
// What the allowed lists contain: a 200 must not show what the table hides.

fn ids(v: &Value, key: &str) -> BTreeSet<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} list in {v}"))
        .iter()
        .map(|x| x["id"].as_str().expect("id").to_string())
        .collect()
}

fn domain_ids(v: &Value, key: &str) -> BTreeSet<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} list in {v}"))
        .iter()
        .map(|x| x["domain_id"].as_str().expect("domain_id").to_string())
        .collect()
}

#[tokio::test]
async fn lists_show_only_what_the_caller_may_see() {
    let w = World::new().await;
    let get = |p: usize, path: String| {
        let token = w.personas[p].token.clone();
        let app = &w.app;
        async move {
            let r = app.call("GET", &path, token.as_deref(), None).await;
            assert_eq!(r.code(), 200, "GET {path} as {}: {}", PERSONAS[p], r.text());
            r.json().expect("json")
        }
    };
    let v = |k: &str| w.vars[k].clone();
    let one = |k: &str| BTreeSet::from([v(k)]);
    let (admin, mgr, member, reader, other) = (0, 1, 2, 3, 4);

    // users: a domain manager sees her domain, members and readers themselves
    let users = get(mgr, "/users".into()).await;
    assert_eq!(domain_ids(&users, "users"), one("A"));
    assert!(ids(&users, "users").contains(&v("A_user")));
    assert_eq!(
        domain_ids(&get(other, "/users".into()).await, "users"),
        one("B")
    );
    assert_eq!(
        ids(&get(member, "/users".into()).await, "users"),
        one("member")
    );
    assert_eq!(
        ids(
            &get(reader, format!("/users?domain_id={}", v("A"))).await,
            "users"
        ),
        one("reader")
    );
    let all = get(admin, "/users".into()).await;
    assert!(ids(&all, "users").is_superset(&BTreeSet::from([v("A_user"), v("B_user")])));

    // projects and groups: the domain manager's domain only
    assert_eq!(
        domain_ids(&get(mgr, "/projects".into()).await, "projects"),
        one("A")
    );
    assert_eq!(
        domain_ids(&get(other, "/projects".into()).await, "projects"),
        one("B")
    );
    assert_eq!(
        domain_ids(&get(mgr, "/groups".into()).await, "groups"),
        one("A")
    );
    assert_eq!(
        ids(&get(other, "/groups".into()).await, "groups"),
        one("B_group")
    );

    // domains: the cloud admin sees all, others the domain they act in
    assert!(ids(&get(admin, "/domains".into()).await, "domains")
        .is_superset(&BTreeSet::from([v("A"), v("B")])));
    assert_eq!(ids(&get(mgr, "/domains".into()).await, "domains"), one("A"));
    assert_eq!(
        ids(&get(member, "/domains".into()).await, "domains"),
        one("A")
    );
    assert_eq!(
        ids(&get(other, "/domains".into()).await, "domains"),
        one("B")
    );

    // a caller's own projects
    assert_eq!(
        ids(&get(member, "/auth/projects".into()).await, "projects"),
        one("PA")
    );
    assert_eq!(
        ids(
            &get(reader, format!("/users/{}/projects", v("reader"))).await,
            "projects"
        ),
        one("PA")
    );
    assert_eq!(
        ids(&get(mgr, "/auth/domains".into()).await, "domains"),
        one("A")
    );

    // role assignments: her own, or her domain's
    let own = get(member, format!("/role_assignments?user.id={}", v("member"))).await;
    let own = own["role_assignments"].as_array().expect("list").clone();
    assert!(
        !own.is_empty() && own.iter().all(|a| a["user"]["id"] == v("member").as_str()),
        "{own:?}"
    );
    let in_a = get(mgr, format!("/role_assignments?scope.domain.id={}", v("A"))).await;
    let in_a = in_a["role_assignments"].as_array().expect("list").clone();
    assert!(
        !in_a.is_empty()
            && in_a
                .iter()
                .all(|a| a["scope"]["domain"]["id"] == v("A").as_str()),
        "{in_a:?}"
    );
}
