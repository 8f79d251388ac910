//! Token lifecycle, in-process: tokens stop working the moment their user loses a
//! role they carry (directly or through a group), when their project is disabled or
//! their application credential deleted; rescoping keeps the expiry; application
//! credentials carry only the roles they were given.

mod support;

use serde_json::json;
use support::*;

async fn validates(app: &App, token: &str) -> u16 {
    app.raw(
        "GET",
        "/auth/tokens",
        Some(&app.admin_token),
        &[("x-subject-token", token)],
        None,
    )
    .await
    .code()
}

async fn own_use(app: &App, token: &str) -> u16 {
    app.call("GET", "/auth/projects", Some(token), None)
        .await
        .code()
}

#[tokio::test]
async fn losing_a_carried_role_directly_or_through_a_group_revokes() {
    let app = App::new().await;
    let project = app.create_project("default", &unique("p")).await;
    let user = app.create_user("default", &unique("u"), Some("pw")).await;
    let group = app.create_group("default", &unique("g")).await;
    let member = app.role_id("member").await;
    let reader = app.role_id("reader").await;
    app.admin(
        "PUT",
        &format!("/projects/{project}/users/{user}/roles/{reader}"),
        None,
    )
    .await;
    app.admin(
        "PUT",
        &format!("/projects/{project}/groups/{group}/roles/{member}"),
        None,
    )
    .await;
    app.admin("PUT", &format!("/groups/{group}/users/{user}"), None)
        .await;

    let token = app
        .login(&password_auth(&user, "pw", project_scope(&project)))
        .await;
    let body = app
        .raw(
            "GET",
            "/auth/tokens",
            Some(&app.admin_token),
            &[("x-subject-token", &token)],
            None,
        )
        .await
        .json()
        .unwrap();
    let roles: Vec<&str> = body["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        roles.contains(&"member") && roles.contains(&"reader"),
        "{roles:?}"
    );
    assert_eq!(own_use(&app, &token).await, 200);

    // Leaving the group loses `member` (reader is still held directly): refused.
    app.admin("DELETE", &format!("/groups/{group}/users/{user}"), None)
        .await;
    assert_eq!(own_use(&app, &token).await, 401);
    assert_eq!(validates(&app, &token).await, 404);

    // A new token carries only `reader`; revoking that grant refuses it too.
    let token = app
        .login(&password_auth(&user, "pw", project_scope(&project)))
        .await;
    assert_eq!(own_use(&app, &token).await, 200);
    app.admin(
        "DELETE",
        &format!("/projects/{project}/users/{user}/roles/{reader}"),
        None,
    )
    .await;
    assert_eq!(own_use(&app, &token).await, 401);
    // And without any role she cannot scope to the project at all.
    let r = app
        .call(
            "POST",
            "/auth/tokens",
            None,
            Some(&password_auth(&user, "pw", project_scope(&project))),
        )
        .await;
    assert_eq!(r.code(), 401, "{}", r.text());
}

#[tokio::test]
async fn disabling_the_project_revokes_its_tokens() {
    let app = App::new().await;
    let project = app.create_project("default", &unique("p")).await;
    let user = app.create_user("default", &unique("u"), Some("pw")).await;
    let member = app.role_id("member").await;
    app.admin(
        "PUT",
        &format!("/projects/{project}/users/{user}/roles/{member}"),
        None,
    )
    .await;
    let token = app
        .login(&password_auth(&user, "pw", project_scope(&project)))
        .await;
    assert_eq!(own_use(&app, &token).await, 200);
    app.admin(
        "PATCH",
        &format!("/projects/{project}"),
        Some(json!({"project": {"enabled": false}})),
    )
    .await;
    assert_eq!(own_use(&app, &token).await, 401);
}

#[tokio::test]
async fn rescoping_an_unscoped_token_keeps_user_and_expiry() {
    let app = App::new().await;
    let project = app.create_project("default", &unique("p")).await;
    let user = app.create_user("default", &unique("u"), Some("pw")).await;
    let member = app.role_id("member").await;
    app.admin(
        "PUT",
        &format!("/projects/{project}/users/{user}/roles/{member}"),
        None,
    )
    .await;

    let r = app
        .call(
            "POST",
            "/auth/tokens",
            None,
            Some(&password_auth(&user, "pw", None)),
        )
        .await;
    assert_eq!(r.code(), 201);
    let unscoped = r.json().unwrap();
    assert!(
        unscoped["token"].get("project").is_none(),
        "no default project: unscoped"
    );
    assert!(unscoped["token"].get("catalog").is_none());
    let unscoped_token = r.header("x-subject-token").unwrap();

    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped_token}},
                                   "scope": {"project": {"id": project}}}});
    let r = app.call("POST", "/auth/tokens", None, Some(&rescope)).await;
    assert_eq!(r.code(), 201, "{}", r.text());
    let scoped = r.json().unwrap();
    assert_eq!(scoped["token"]["project"]["id"], project);
    assert_eq!(scoped["token"]["user"]["id"], user);
    assert_eq!(
        scoped["token"]["expires_at"],
        unscoped["token"]["expires_at"]
    );
    assert!(scoped["token"]["catalog"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
}

#[tokio::test]
async fn application_credentials_carry_a_role_subset_and_die_with_their_credential() {
    let app = App::new().await;
    let project = app.create_project("default", &unique("p")).await;
    let user = app.create_user("default", &unique("u"), Some("pw")).await;
    let member = app.role_id("member").await;
    app.admin(
        "PUT",
        &format!("/projects/{project}/users/{user}/roles/{member}"),
        None,
    )
    .await;
    let token = app
        .login(&password_auth(&user, "pw", project_scope(&project)))
        .await;

    let create = json!({"application_credential": {"name": "ci", "roles": [{"name": "reader"}]}});
    let r = app
        .call(
            "POST",
            &format!("/users/{user}/application_credentials"),
            Some(&token),
            Some(&create),
        )
        .await;
    assert_eq!(r.code(), 201, "{}", r.text());
    let cred = r.json().unwrap()["application_credential"].clone();
    let secret = cred["secret"].as_str().unwrap().to_string();
    let cred_id = cred["id"].as_str().unwrap().to_string();

    // The secret is shown once.
    let shown = app
        .call(
            "GET",
            &format!("/users/{user}/application_credentials/{cred_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(shown.code(), 200);
    assert!(shown.json().unwrap()["application_credential"]
        .get("secret")
        .is_none());

    // Asking for a role she does not hold is refused.
    let too_much = json!({"application_credential": {"name": "x", "roles": [{"name": "admin"}]}});
    let r = app
        .call(
            "POST",
            &format!("/users/{user}/application_credentials"),
            Some(&token),
            Some(&too_much),
        )
        .await;
    assert_eq!(r.code(), 403, "{}", r.text());

    let auth = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": cred_id, "secret": secret}}}});
    let r = app.call("POST", "/auth/tokens", None, Some(&auth)).await;
    assert_eq!(r.code(), 201, "{}", r.text());
    let body = r.json().unwrap();
    assert_eq!(body["token"]["project"]["id"], project);
    let names: Vec<&str> = body["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["reader"]);
    let ac_token = r.header("x-subject-token").unwrap();
    assert_eq!(own_use(&app, &ac_token).await, 200);

    let wrong = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": cred_id, "secret": "nope"}}}});
    assert_eq!(
        app.call("POST", "/auth/tokens", None, Some(&wrong))
            .await
            .code(),
        401
    );

    let r = app
        .call(
            "DELETE",
            &format!("/users/{user}/application_credentials/{cred_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.code(), 204);
    assert_eq!(own_use(&app, &ac_token).await, 401);
}

#[tokio::test]
async fn effective_assignments_expand_groups_and_implied_roles() {
    let app = App::new().await;
    let project = app.create_project("default", &unique("p")).await;
    let user = app.create_user("default", &unique("u"), None).await;
    let group = app.create_group("default", &unique("g")).await;
    let manager = app.role_id("manager").await;
    app.admin("PUT", &format!("/groups/{group}/users/{user}"), None)
        .await;
    app.admin(
        "PUT",
        &format!("/projects/{project}/groups/{group}/roles/{manager}"),
        None,
    )
    .await;

    let direct = app
        .admin(
            "GET",
            &format!("/role_assignments?scope.project.id={project}"),
            None,
        )
        .await;
    assert_eq!(direct["role_assignments"].as_array().unwrap().len(), 1);

    let eff = app
        .admin(
            "GET",
            &format!("/role_assignments?user.id={user}&effective&include_names=True"),
            None,
        )
        .await;
    let mut names: Vec<&str> = eff["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["role"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["manager", "member", "reader"]);
    for a in eff["role_assignments"].as_array().unwrap() {
        assert_eq!(a["user"]["id"], user);
        assert!(
            a["links"]["membership"].is_string(),
            "derived from the group: {a}"
        );
    }
}
