//! Enrollment and bearer tokens.

use axum::http::StatusCode;
use serde_json::json;

use gridline_core::protocol::{OpKind, PROTOCOL_VERSION};
use gridline_core::EntityKind;
use gridline_server::storage::NewDevice;

use crate::common::*;

#[tokio::test]
async fn enroll_with_good_password_returns_token_and_principal() {
    let w = World::new();
    let (status, body) = w
        .call("/v1/enroll", None, json!({"protocol": PROTOCOL_VERSION, "username": "bh", "password": PASSWORD, "device_name": "phone"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token"].as_str().unwrap().len(), 64);
    assert_eq!(body["principal"]["role"], "building_head");
    assert_eq!(body["principal"]["scope"]["building_ids"], json!(["B1"]));
}

#[tokio::test]
async fn enroll_refuses_bad_password_unknown_user_and_disabled_user() {
    let w = World::new();
    for (user, pw) in [("bh", "wrong"), ("nobody", PASSWORD)] {
        let (status, body) = w
            .call("/v1/enroll", None, json!({"protocol": PROTOCOL_VERSION, "username": user, "password": pw, "device_name": "x"}))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], "unauthorized");
        assert!(body["message_zh"].as_str().unwrap().contains("密码"));
    }
    let token = w.enroll("gw").await;
    assert!(w.state.service.storage().set_disabled("gw", true).unwrap());
    let (status, _) = w
        .call("/v1/enroll", None, json!({"protocol": PROTOCOL_VERSION, "username": "gw", "password": PASSWORD, "device_name": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The existing device of a disabled user stops syncing too.
    let (status, body) = w.call("/v1/pull", Some(&token), json!({"protocol": 1, "cursor": 0, "limit": 10})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthorized");
}

#[tokio::test]
async fn repeated_wrong_passwords_at_enrollment_are_rate_limited() {
    let clock = gridline_core::ManualClock::new(now_ms());
    let w = World::with_clock(&clock);
    let attempt = |user: &'static str, pw: &'static str| {
        w.call("/v1/enroll", None, json!({"protocol": PROTOCOL_VERSION, "username": user, "password": pw, "device_name": "x"}))
    };
    // Four failures, then a success: the count starts again.
    for _ in 0..4 {
        assert_eq!(attempt("bh", "wrong").await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt("bh", PASSWORD).await.0, StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(attempt("bh", "wrong").await.0, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused (not checked), with the API's error body.
    let (status, body) = attempt("bh", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "too_many_attempts");
    assert!(body["message_zh"].as_str().unwrap().contains("15分钟"), "{body}");
    // Others are not affected; the window passes.
    assert_eq!(attempt("gw", PASSWORD).await.0, StatusCode::OK);
    clock.advance(15 * 60_000);
    assert_eq!(attempt("bh", PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn missing_unknown_revoked_and_expired_tokens_are_refused_and_change_nothing() {
    let w = World::new();
    let token = w.enroll("gw").await;
    let before = w.fingerprint();
    let ops = vec![op(EntityKind::Household, "HX", OpKind::Update, json!({"notes": "x"}), 0)];
    let push_body = json!({"protocol": 1, "ops": ops, "sent_at": now_ms()});
    for t in [None, Some("deadbeef")] {
        let (status, body) = w.call("/v1/push", t, push_body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["protocol"], 1);
    }
    // Expired: a device whose token expired an hour ago.
    let user = w.state.service.storage().user_by_name("gw").unwrap().unwrap();
    let expired = "ab".repeat(32);
    w.state
        .service
        .storage()
        .add_device(&NewDevice {
            id: "dev-expired".into(),
            user_id: user.id.clone(),
            token_hash: gridline_server::auth::token_hash(&expired),
            name: "old".into(),
            created_at: 0,
            expires_at: Some(now_ms() - 3_600_000),
        })
        .unwrap();
    let before_expired = w.fingerprint();
    let (status, body) = w.call("/v1/push", Some(&expired), push_body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["message"].as_str().unwrap().contains("expired"));
    assert_eq!(w.fingerprint(), before_expired);
    // Revoked.
    let devices = w.state.service.storage().devices(&user.id).unwrap();
    let dev = devices.iter().find(|d| d.id != "dev-expired").unwrap();
    assert!(w.state.service.storage().revoke_device(&dev.id, now_ms()).unwrap());
    let before_revoke = w.fingerprint();
    let (status, body) = w.call("/v1/push", Some(&token), push_body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["message_zh"].as_str().unwrap().contains("注销"));
    assert_eq!(w.fingerprint(), before_revoke);
    assert_ne!(before, before_revoke, "revocation itself is stored");
}

#[tokio::test]
async fn accounts_with_a_scope_that_does_not_fit_the_role_or_names_nothing_or_a_short_password_are_refused() {
    use gridline_core::access::Scope;
    use gridline_core::Role;
    use gridline_server::UserSpec;

    let w = World::new();
    let svc = &w.state.service;
    let areas = |ids: &[&str]| Scope { area_ids: ids.iter().map(|s| s.to_string()).collect(), ..Scope::default() };
    let spec = |name: &str, password: &str, role: Role, scope: Scope| UserSpec {
        username: name.into(),
        password: password.into(),
        role,
        scope,
        display_name: String::new(),
    };
    let before = w.fingerprint();
    // (spec, field the English message starts with, what the Chinese message says)
    let refused = [
        (spec("gw9", PASSWORD, Role::GridWorker, Scope::default()), "scope.area_ids:", "至少要指定一个区域"),
        (spec("gw9", PASSWORD, Role::GridWorker, areas(&["G9"])), "scope.area_ids:", "区域「G9」不存在"),
        (spec("gw9", PASSWORD, Role::GridWorker, areas(&["G1", "G1"])), "scope.area_ids:", "区域「G1」重复指定"),
        (spec("gw9", PASSWORD, Role::GridWorker, areas(&["G1", " "])), "scope.area_ids:", "区域编号不能为空"),
        (spec("gw9", PASSWORD, Role::GridWorker, Scope { building_ids: vec!["B1".into()], ..areas(&["G1"]) }),
            "scope.building_ids:", "专职网格员的范围按区域指定，不能指定楼栋"),
        (spec("bh9", PASSWORD, Role::BuildingHead, areas(&["G1"])), "scope.area_ids:", "不能指定区域"),
        (spec("bh9", PASSWORD, Role::BuildingHead, Scope { building_ids: vec!["B9".into()], ..Scope::default() }),
            "scope.building_ids:", "楼栋「B9」不存在"),
        (spec("dh9", PASSWORD, Role::DepartmentHandler, Scope { department_ids: vec!["D9".into()], ..Scope::default() }),
            "scope.department_ids:", "部门「D9」不存在"),
        (spec("admin9", PASSWORD, Role::Admin, areas(&["G1"])), "scope.area_ids:", "系统管理员可见全部数据"),
        (spec("sup9", "1234567", Role::Supervisor, areas(&["COM"])), "password:", "密码至少要有 8 个字符"),
        (spec(" ", PASSWORD, Role::Supervisor, areas(&["COM"])), "username:", "用户名不能为空"),
        (spec(&"名".repeat(65), PASSWORD, Role::Supervisor, areas(&["COM"])), "username:", "用户名最多 64 个字符"),
        (spec("li si", PASSWORD, Role::Supervisor, areas(&["COM"])), "username:", "用户名中间不能有空格"),
        (spec("li\tsi", PASSWORD, Role::Supervisor, areas(&["COM"])), "username:", "用户名中间不能有空格"),
        (UserSpec { display_name: "张\u{7}三".into(), ..spec("zs", PASSWORD, Role::Supervisor, areas(&["COM"])) },
            "display_name:", "姓名最多 64 个字符"),
    ];
    for (s, field, zh) in refused {
        let e = svc.add_user(&s).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{s:?}");
        assert!(e.message.starts_with(field), "{s:?}: {}", e.message);
        assert!(e.message_zh.contains(zh), "{s:?}: {}", e.message_zh);
        // Refused before anything was stored, with the same rule for a scope change.
        assert_eq!(w.fingerprint(), before);
        if field.starts_with("scope.") {
            let e = svc.set_scope("gw", s.role, &s.scope).unwrap_err();
            assert!(e.message.starts_with(field), "set_scope {s:?}: {}", e.message);
            assert_eq!(w.fingerprint(), before);
        }
    }
    // What fits is taken: every kind of scope, each id a record the server holds.
    for s in [
        spec("gw9", PASSWORD, Role::GridWorker, areas(&["G1", "G2"])),
        spec("sup9", "八个字符的密码啊", Role::Supervisor, areas(&["COM"])),
        spec("bh9", PASSWORD, Role::BuildingHead, Scope { building_ids: vec!["B2".into()], ..Scope::default() }),
        spec("dh9", PASSWORD, Role::DepartmentHandler, Scope { department_ids: vec!["D2".into()], ..Scope::default() }),
        spec("admin9", PASSWORD, Role::Admin, Scope::default()),
        // 64 characters, Chinese ones too, and a name as people write it.
        UserSpec { display_name: "欧阳 小明".into(), ..spec(&"名".repeat(64), PASSWORD, Role::Admin, Scope::default()) },
    ] {
        let u = svc.add_user(&s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!((u.role, &u.scope), (s.role, &s.scope));
    }
    assert_eq!(svc.set_scope("gw9", Role::GridWorker, &areas(&["G2"])).unwrap(), Some(2));
    assert_eq!(svc.set_scope("nobody", Role::GridWorker, &areas(&["G2"])).unwrap(), None);
}

#[test]
fn the_list_command_gives_the_ids_a_scope_is_made_of_within_an_area() {
    use gridline_server::cli::{list_lines, ListKind};
    let w = World::new();
    let storage = w.state.service.storage();
    let ids = |what: ListKind, within: Option<&str>| -> Vec<String> {
        list_lines(storage, what, within).unwrap().iter().map(|l| l.split('\t').next().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(ListKind::Areas, None), ["COM", "G1", "G2", "JM"]);
    assert_eq!(ids(ListKind::Areas, Some("COM")), ["COM", "G1", "G2"]);
    assert_eq!(ids(ListKind::Buildings, None), ["B1", "B2", "B3"]);
    assert_eq!(ids(ListKind::Buildings, Some("G2")), ["B3"]);
    assert_eq!(ids(ListKind::Buildings, Some("JM")), ["B1", "B2", "B3"]);
    assert_eq!(ids(ListKind::Departments, None), ["D1", "D2"]);
    // Each line says what the record is, tab separated after the id.
    let b3 = list_lines(storage, ListKind::Buildings, Some("G2")).unwrap();
    assert_eq!(b3, ["B3\tG2\tB3栋\t测试路1号"]);
    let g1: Vec<String> = list_lines(storage, ListKind::Areas, None).unwrap().into_iter().filter(|l| l.starts_with("G1\t")).collect();
    assert_eq!(g1, ["G1\tgrid\t第1网格\tCOM"]);
    let e = list_lines(storage, ListKind::Buildings, Some("G9")).unwrap_err().to_string();
    assert!(e.contains("区域「G9」不存在") && e.contains("--within"), "{e}");
}

#[test]
fn a_city_file_loads_the_tree_departments_and_categories_once_and_a_bad_one_writes_nothing() {
    use gridline_core::access::Scope;
    use gridline_core::Role;
    use gridline_server::import::{import_reference, Imported};
    use gridline_server::UserSpec;

    let w = World::new();
    let svc = &w.state.service;
    // JM and COM are held already; a new street with a grid below COM's city, a department, a category.
    let file = r#"{"city": {"code": "JM", "name": "江门市"},
        "divisions": [{"code": "JM-XH", "name": "新会区", "kind": "district", "children": [
            {"code": "JM-XH-HC", "name": "会城街道", "kind": "street", "children": [
                {"code": "JM-XH-HC-G01", "name": "会城第1网格", "kind": "grid"}]}]}],
        "departments": [{"code": "D1", "name": "城管局"}, {"code": "water", "name": "水务局"}],
        "incident_categories": [{"code": "flooding", "name": "内涝", "response_hours": 2, "resolve_days": 3}],
        "care_tags": [{"code": "ignored", "name": "其他键不读"}]}"#;
    let n = import_reference(svc, file).unwrap();
    assert_eq!(n, Imported { areas: (3, 1), departments: (1, 1), categories: (1, 0) });
    let grid = svc.storage().console().record(EntityKind::Area, "JM-XH-HC-G01").unwrap().expect("grid");
    assert_eq!(grid.fields["parent_id"], "JM-XH-HC");
    assert_eq!(grid.fields["kind"], "grid");
    // Its grid can be given to a grid worker now.
    let scope = Scope { area_ids: vec!["JM-XH-HC-G01".into()], ..Scope::default() };
    svc.add_user(&UserSpec { username: "gw-xh".into(), password: PASSWORD.into(), role: Role::GridWorker, scope, display_name: String::new() })
        .expect("a grid of the file");
    // Again: nothing new.
    let before = w.fingerprint();
    assert_eq!(import_reference(svc, file).unwrap(), Imported { areas: (0, 4), departments: (0, 2), categories: (0, 1) });
    assert_eq!(w.fingerprint(), before);

    // A file with a mistake anywhere writes nothing, and says where.
    for (bad, at) in [
        (r#"{"city": {"code": "JM", "name": "江门市"}, "divisions": [{"code": "N1", "name": "新区", "kind": "district"}, {"code": "N2", "name": "无层级"}]}"#, "divisions[1].kind"),
        (r#"{"city": {"code": "JM", "name": "江门市"}, "divisions": [{"code": "N1", "name": "新区", "kind": "district", "children": [{"code": "N1", "name": "重复", "kind": "street"}]}]}"#, "divisions[0].children[0].code"),
        (r#"{"divisions": [{"code": "N1", "name": "新区", "kind": "district"}]}"#, "city"),
        (r#"{"departments": [{"code": "new", "name": " "}]}"#, "departments[0].name"),
        (r#"{"incident_categories": [{"code": "c", "name": "新类", "response_hours": 4, "resolve_days": 0}]}"#, "incident_categories[0].resolve_days"),
        (r#"{"city": {"code": " JM", "name": "江门市"}}"#, "city.code"),
    ] {
        let e = import_reference(svc, bad).unwrap_err();
        assert!(e.message.starts_with(&format!("{at}:")), "{at}: {}", e.message);
        assert!(e.message_zh.contains(&format!("「{at}」")), "{at}: {}", e.message_zh);
        assert_eq!(w.fingerprint(), before, "{at}: nothing written");
    }
    let e = import_reference(svc, "[1, 2]").unwrap_err();
    assert!(e.message_zh.starts_with("文件格式不符"), "{}", e.message_zh);

    // A city larger than a device's batch (1,000 ops): what the writer would refuse near the
    // end (a code or a name too long) refuses the whole file, and a good one is written whole.
    let grids = |last_code: &str, last_name: &str| {
        let mut g: Vec<serde_json::Value> =
            (0..1_500).map(|i| serde_json::json!({"code": format!("BIG-G{i:04}"), "name": format!("第{i}网格"), "kind": "grid"})).collect();
        g.push(serde_json::json!({"code": last_code, "name": last_name, "kind": "grid"}));
        serde_json::json!({"city": {"code": "JM", "name": "江门市"},
            "divisions": [{"code": "BIG", "name": "大区", "kind": "district", "children": g}]})
        .to_string()
    };
    let long_code = "C".repeat(65);
    let long_name = "名".repeat(4_001);
    for (file, at) in [
        (grids(&long_code, "长编码"), "divisions[0].children[1500].code"),
        (grids("BIG-LAST", &long_name), "divisions[0].children[1500]"),
    ] {
        let e = import_reference(svc, &file).unwrap_err();
        assert!(e.message.starts_with(&format!("{at}:")), "{at}: {}", e.message);
        assert!(e.message_zh.contains(&format!("「{at}」")), "{at}: {}", e.message_zh);
        assert_eq!(w.fingerprint(), before, "{at}: nothing written");
    }
    let n = import_reference(svc, &grids("BIG-LAST", "末网格")).unwrap();
    assert_eq!(n.areas, (1_502, 1));
    assert!(svc.storage().console().record(EntityKind::Area, "BIG-LAST").unwrap().is_some());

    // A code whose record was deleted stays taken: refused before anything is written, with
    // its place (the writer would refuse that one create and write the rest).
    w.server_push(vec![op(EntityKind::Area, "BIG-G0007", OpKind::Delete, serde_json::json!({}), w.version("BIG-G0007"))]);
    let before = w.fingerprint();
    let again = r#"{"city": {"code": "JM", "name": "江门市"}, "departments": [{"code": "new-dept", "name": "新部门"}],
        "divisions": [{"code": "BIG", "name": "大区", "kind": "district", "children": [{"code": "BIG-G0007", "name": "第7网格", "kind": "grid"}]}]}"#;
    let e = import_reference(svc, again).unwrap_err();
    assert!(e.message.starts_with("divisions[0].children[0].code:"), "{}", e.message);
    assert!(e.message_zh.contains("已删除"), "{}", e.message_zh);
    assert_eq!(w.fingerprint(), before);
}

#[tokio::test]
async fn a_login_again_keeps_the_users_own_device_and_no_one_elses() {
    let w = World::new();
    let enroll = |user: &str, device_id: Option<&str>| {
        let mut body = json!({"protocol": PROTOCOL_VERSION, "username": user, "password": PASSWORD, "device_name": "手机"});
        if let Some(id) = device_id {
            body["device_id"] = json!(id);
        }
        let w = &w;
        async move {
            let (status, body) = w.call("/v1/enroll", None, body).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            (body["device_id"].as_str().unwrap().to_owned(), body["token"].as_str().unwrap().to_owned())
        }
    };
    let (gw_dev, old_token) = enroll("gw", None).await;
    let (dh_dev, _) = enroll("dh", None).await;
    // The same user again on their device: the same id, a new token, the old one no longer works.
    let (again, token) = enroll("gw", Some(&gw_dev)).await;
    assert_eq!(again, gw_dev);
    assert_ne!(token, old_token);
    let (status, _) = w.call("/v1/pull", Some(&old_token), json!({"protocol": PROTOCOL_VERSION, "cursor": 0, "limit": 10})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = w.call("/v1/pull", Some(&token), json!({"protocol": PROTOCOL_VERSION, "cursor": 0, "limit": 10})).await;
    assert_eq!(status, StatusCode::OK);
    let gw_id = w.state.service.storage().user_by_name("gw").unwrap().unwrap().id;
    assert_eq!(w.state.service.storage().devices(&gw_id).unwrap().len(), 1, "one device, not one per login");
    // Someone else's device, an unknown or malformed id, or a revoked device: a new id.
    let (other, _) = enroll("gw", Some(&dh_dev)).await;
    assert!(other != dh_dev && other != gw_dev);
    for id in ["no-such-device", &"x".repeat(65)] {
        let (new, _) = enroll("gw", Some(id)).await;
        assert!(new != id && new != gw_dev);
    }
    assert!(w.state.service.storage().revoke_device(&gw_dev, now_ms()).unwrap());
    let (after_revoke, _) = enroll("gw", Some(&gw_dev)).await;
    assert_ne!(after_revoke, gw_dev, "a revoked device stays revoked");
}
