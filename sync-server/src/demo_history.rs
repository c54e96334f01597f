//! Weeks of demo history: incidents walking every path of the state machine, patrols with GPS
//! tracks, household visits, tasks with evidence and reviews, a few conflicts and rejected ops.
//!
//! Every action is an op of a real demo user's device, pushed through the normal push path
//! (scope checks, state machine, change log) while a manual clock stands at the hour the action
//! happened, so server times span the weeks and the statistics have history to show. All
//! randomness comes from one seed: the same history every time (relative to the start time).

use std::collections::HashMap;

use serde_json::{json, Value};

use gridline_core::access::Principal;
use gridline_core::areas::DEFAULT_CATEGORIES;
use gridline_core::protocol::{Op, OpKind, OpStatus, PushRequest, PROTOCOL_VERSION};
use gridline_core::sample::{self, Rng};
use gridline_core::{EntityKind, ManualClock};

use crate::demo::{fields, new_id as id};
use crate::error::AppError;
use crate::service::{Origin, Service};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const MINUTE: i64 = 60_000;

/// A demo user acting through their phone (or console).
pub struct Actor {
    /// Who.
    pub who: Principal,
    /// Their device.
    pub device_id: String,
}

/// A grid of the demo with its worker, supervisor and households.
pub struct GridInfo {
    /// Grid code.
    pub code: String,
    /// Index of its grid worker in the actors.
    pub worker: usize,
    /// Index of its community supervisor in the actors.
    pub supervisor: usize,
    /// Households (id, building id).
    pub households: Vec<(String, String)>,
    /// Centre of the grid (lat, lng).
    pub centre: (f64, f64),
}

/// The demo world the history is played in.
pub struct World {
    /// Every acting user.
    pub actors: Vec<Actor>,
    /// Populated grids.
    pub grids: Vec<GridInfo>,
    /// Department code → index of its handler in the actors.
    pub handlers: HashMap<&'static str, usize>,
}

struct Action {
    at: i64,
    actor: usize,
    op: Op,
}

/// Collects planned actions; `play` pushes them in time order.
struct Plan<'r> {
    rng: &'r mut Rng,
    actions: Vec<Action>,
    now: i64,
}


impl Plan<'_> {
    fn add(&mut self, at: i64, actor: usize, entity: EntityKind, entity_id: &str, kind: OpKind, f: Value) {
        if at > self.now {
            return;
        }
        let op = Op { op_id: id(), device_seq: 0, entity, entity_id: entity_id.to_owned(), kind, fields: fields(f), base_version: 0, device_time: at };
        self.actions.push(Action { at, actor, op });
    }

    fn event(&mut self, at: i64, actor: usize, incident: &str, kind: &str, note: &str, dept: Option<&str>) {
        let f = json!({"id": id(), "kind": kind, "at": at, "note": note, "department_id": dept, "deadline_at": null});
        self.add(at, actor, EntityKind::Incident, incident, OpKind::Event, f);
    }

    fn hours(&mut self, lo: f64, hi: f64) -> i64 {
        ((lo + (hi - lo) * self.rng.f64()) * HOUR as f64) as i64
    }
}

fn one_of(rng: &mut Rng, xs: &[&'static str]) -> &'static str {
    xs[rng.below(xs.len() as u64) as usize]
}

/// The department a category goes to.
fn department_for(category: &str, rng: &mut Rng) -> &'static str {
    match category {
        "dispute" => "justice",
        "safety_hazard" => one_of(rng, &["emergency", "housing"]),
        "fire_hazard" => "fire",
        "public_facility" => one_of(rng, &["urban_mgmt", "water", "power"]),
        "illegal_building" => "urban_mgmt",
        "public_order" => "police",
        "resident_request" => "civil_affairs",
        "flood_weather" => "water",
        "environment" => one_of(rng, &["urban_mgmt", "urban_mgmt", "ecology"]),
        _ => "urban_mgmt",
    }
}

/// One incident's whole planned life, from its report at `t0`.
fn plan_incident(p: &mut Plan<'_>, w: &World, t0: i64, grid: &GridInfo, fresh: bool) {
    let (cat, _, resp_h, res_d) = *p.rng.pick(DEFAULT_CATEGORIES);
    let (hid, bid) = p.rng.pick(&grid.households).clone();
    let inc = id();
    let (gw, sup) = (grid.worker, grid.supervisor);
    let severity = *p.rng.pick(&["low", "normal", "normal", "high", "urgent"]);
    let jitter = (p.rng.f64() - 0.5) * 0.004;
    let with_household = p.rng.chance(0.4);
    let description = sample::incident_description(p.rng, cat);
    p.add(t0, gw, EntityKind::Incident, &inc, OpKind::Create, json!({"category": cat, "severity": severity, "grid_id": grid.code,
        "building_id": bid, "household_id": if with_household { Some(hid) } else { None },
        "lat": grid.centre.0 + jitter, "lng": grid.centre.1 - jitter, "location_text": "", "description": description,
        "photos": [], "reporter_id": "", "reporter_role": "grid_worker", "reported_at": t0}));
    if fresh {
        // Just reported: waiting for dispatch.
        return;
    }
    let r = p.rng.f64();
    if r < 0.05 {
        let t = t0 + p.hours(2.0, 12.0);
        p.event(t, sup, &inc, "closed", "经核实为重复上报，已合并处理", None);
        return;
    }
    if r < 0.13 {
        let t = t0 + p.hours(0.3, 2.0);
        p.event(t, gw, &inc, "resolved", "网格员现场协调，已就地解决", None);
        let t = t + p.hours(3.0, 20.0);
        p.event(t, sup, &inc, "verified", "", None);
        let t = t + p.hours(0.5, 8.0);
        p.event(t, sup, &inc, "closed", "", None);
        return;
    }
    let mut dept = department_for(cat, p.rng);
    let mut t = t0 + p.hours(0.3, 5.0);
    p.event(t, sup, &inc, "dispatched", "请按时限处置并反馈", Some(dept));
    if p.rng.chance(0.07) {
        t += p.hours(1.0, 8.0);
        p.event(t, w.handlers[dept], &inc, "returned", "不属于本部门职责，请重新派遣", None);
        dept = if dept == "urban_mgmt" { "housing" } else { "urban_mgmt" };
        t += p.hours(1.0, 4.0);
        p.event(t, sup, &inc, "dispatched", "已改派，请处置", Some(dept));
    }
    let handler = w.handlers[dept];
    if p.rng.chance(0.04) {
        // The department never answers: the incident goes overdue.
        return;
    }
    let late = p.rng.chance(0.12);
    t += if late { p.hours(resp_h as f64 * 1.2, resp_h as f64 * 3.0) } else { p.hours(resp_h as f64 * 0.05, resp_h as f64 * 0.8) };
    p.event(t, handler, &inc, "accepted", "已受理", None);
    if p.rng.chance(0.04) {
        t += p.hours(12.0, 48.0);
        p.event(t, sup, &inc, "escalated", "涉及多个部门，需区级协调", None);
        t += p.hours(8.0, 30.0);
        p.event(t, sup, &inc, "dispatched", "区级协调后派遣", Some(dept));
        t += p.hours(0.5, 3.0);
        p.event(t, handler, &inc, "accepted", "已受理", None);
    }
    let budget = res_d as f64 * 24.0;
    let slow = p.rng.chance(0.1);
    let resolve_at = (t + p.hours(1.0, 6.0)).max(t0 + p.hours(budget * 0.15, budget * if slow { 1.6 } else { 0.95 }));
    let progress_at = t + p.hours(2.0, 30.0);
    if p.rng.chance(0.5) && progress_at < resolve_at {
        p.event(progress_at, handler, &inc, "progress", "已安排人员现场处理，预计近日完成", None);
    }
    t = resolve_at;
    p.event(t, handler, &inc, "resolved", "已处置完毕，现场已拍照留存", None);
    t += p.hours(4.0, 40.0);
    if p.rng.chance(0.07) {
        p.event(t, sup, &inc, "reopened", "回访居民反映问题仍未解决", None);
        t += p.hours(1.0, 6.0);
        p.event(t, sup, &inc, "dispatched", "重新办理，请彻底解决", Some(dept));
        t += p.hours(0.5, resp_h as f64 * 0.5);
        p.event(t, handler, &inc, "accepted", "已受理", None);
        t += p.hours(20.0, 72.0);
        p.event(t, handler, &inc, "resolved", "已返工处理，居民确认满意", None);
        t += p.hours(4.0, 30.0);
    }
    p.event(t, sup, &inc, "verified", "经回访核实，已解决", None);
    let t = t + p.hours(0.5, 20.0);
    p.event(t, sup, &inc, "closed", "", None);
}

const PURPOSES: &[&str] = &["日常走访", "独居老人关爱探访", "出租屋安全检查", "政策宣传", "矛盾纠纷回访", "防汛防风提醒"];
const FINDINGS: &[&str] = &["", "", "", "情况正常", "老人身体状况良好", "楼道堆放杂物，已提醒清理", "住户反映路灯不亮"];

/// One patrol of a grid worker with track chunks and visits.
fn plan_patrol(p: &mut Plan<'_>, w: &World, grid: &GridInfo, start: i64) {
    let pid = id();
    let gw = grid.worker;
    let worker = w.actors[gw].who.user_id.clone();
    p.add(start, gw, EntityKind::Patrol, &pid, OpKind::Create, json!({"grid_id": grid.code, "worker_id": worker, "started_at": start, "ended_at": null, "note": ""}));
    let minutes = p.rng.range_i64(50, 140);
    let (mut lat, mut lng) = grid.centre;
    let (mut dlat, mut dlng) = (0.0004, 0.0);
    let mut chunk = Vec::new();
    for m in 0..=minutes {
        if p.rng.chance(0.15) {
            // Turn a corner.
            (dlat, dlng) = *p.rng.pick(&[(0.0004, 0.0), (-0.0004, 0.0), (0.0, 0.00045), (0.0, -0.00045)]);
        }
        // Stay within about 600 m of the grid's centre.
        if (lat - grid.centre.0).abs() > 0.005 {
            dlat = if lat > grid.centre.0 { -0.0004 } else { 0.0004 };
        }
        if (lng - grid.centre.1).abs() > 0.006 {
            dlng = if lng > grid.centre.1 { -0.00045 } else { 0.00045 };
        }
        lat += dlat * (0.6 + 0.8 * p.rng.f64());
        lng += dlng * (0.6 + 0.8 * p.rng.f64());
        let at = start + m * MINUTE;
        chunk.push(json!({"lat": (lat * 1e6).round() / 1e6, "lng": (lng * 1e6).round() / 1e6, "at": at, "accuracy_m": 8.0}));
        if chunk.len() == 30 || m == minutes {
            let pts = std::mem::take(&mut chunk);
            p.add(at, gw, EntityKind::PatrolTrack, &id(), OpKind::Create, json!({"patrol_id": pid, "grid_id": grid.code, "points": pts}));
        }
    }
    let end = start + minutes * MINUTE;
    for _ in 0..p.rng.range_i64(3, 7) {
        let (hid, _) = p.rng.pick(&grid.households).clone();
        let at = start + p.rng.range_i64(5, minutes.max(6)) * MINUTE;
        let purpose = *p.rng.pick(PURPOSES);
        let findings = *p.rng.pick(FINDINGS);
        p.add(at, gw, EntityKind::Visit, &id(), OpKind::Create, json!({"household_id": hid, "grid_id": grid.code, "worker_id": worker,
            "visited_at": at, "purpose": purpose, "notes": "", "findings": findings, "incident_id": null}));
    }
    p.add(end, gw, EntityKind::Patrol, &pid, OpKind::Update, json!({"ended_at": end}));
}

const TASKS: &[&str] = &["独居老人走访排查", "防汛防风隐患排查", "出租屋消防安全检查", "燃气使用安全宣传", "垃圾分类入户宣传", "电动车违规充电排查"];

fn plan_task(p: &mut Plan<'_>, w: &World, grids: &[&GridInfo], area: &str, issued: i64, n: usize) {
    let sup = grids[0].supervisor;
    let issuer = w.actors[sup].who.user_id.clone();
    let tid = id();
    let title = TASKS[n % TASKS.len()];
    let due = issued + 5 * DAY;
    p.add(issued, sup, EntityKind::Task, &tid, OpKind::Create, json!({"area_id": area, "title": title,
        "description": format!("请各网格于{}日内完成{}，并上传现场情况说明。", 5, title), "due_at": due, "issued_by": issuer, "issued_at": issued}));
    for g in grids {
        let aid = id();
        p.add(issued, sup, EntityKind::TaskAssignment, &aid, OpKind::Create, json!({"task_id": tid, "grid_id": g.code, "assignee_id": null,
            "status": "pending", "evidence_text": "", "evidence_photos": [], "submitted_at": null, "review_note": "", "reviewed_at": null}));
        let mut t = issued + p.hours(20.0, 110.0);
        let submit = |p: &mut Plan<'_>, t: i64, text: &str| {
            p.add(t, g.worker, EntityKind::TaskAssignment, &aid, OpKind::Update, json!({"status": "submitted", "evidence_text": text, "submitted_at": t}));
        };
        submit(p, t, "已完成排查，共走访相关住户，发现问题已登记上报。");
        t += p.hours(4.0, 40.0);
        if p.rng.chance(0.2) {
            p.add(t, sup, EntityKind::TaskAssignment, &aid, OpKind::Update, json!({"status": "returned", "review_note": "请补充现场照片和问题清单", "reviewed_at": t}));
            t += p.hours(6.0, 30.0);
            submit(p, t, "已补充现场照片和问题清单。");
            t += p.hours(2.0, 20.0);
        }
        p.add(t, sup, EntityKind::TaskAssignment, &aid, OpKind::Update, json!({"status": "approved", "review_note": "", "reviewed_at": t}));
    }
}

/// Plans the history from `start` up to `now` and plays it; returns (ops applied, ops rejected).
pub fn simulate(service: &Service, clock: &ManualClock, w: &World, rng: &mut Rng, start: i64, now: i64) -> Result<(usize, usize), AppError> {
    let mut p = Plan { rng, actions: Vec::new(), now };
    let community_grids: Vec<&GridInfo> = w.grids.iter().filter(|g| g.supervisor == w.grids[0].supervisor).collect();
    let mut day = start;
    let mut n = 0;
    while day < now {
        let weekday = ((day + 8 * HOUR).div_euclid(DAY) + 3).rem_euclid(7); // 0 = Monday
        let count = if weekday >= 5 { p.rng.range_i64(6, 10) } else { p.rng.range_i64(12, 18) };
        for _ in 0..count {
            // Reports come in between 7:00 and 21:00; the first community gets a larger share.
            let t0 = day + p.hours(7.0, 21.0);
            let grid = if p.rng.chance(0.4) { *p.rng.pick(&community_grids) } else { p.rng.pick(&w.grids) };
            plan_incident(&mut p, w, t0, grid, false);
        }
        if weekday < 5 {
            for g in &w.grids {
                if p.rng.chance(0.85) {
                    let start = day + p.hours(8.5, 10.5);
                    plan_patrol(&mut p, w, g, start);
                }
            }
        }
        if weekday == 0 {
            let area = community_area(service, &community_grids[0].code)?;
            let issued = day + 10 * HOUR;
            plan_task(&mut p, w, &community_grids, &area, issued, n);
            n += 1;
        }
        day += DAY;
    }
    // Reports of the last few hours, still waiting for dispatch, in every community.
    for k in 0..10 {
        let t0 = now - (k + 1) * 25 * MINUTE;
        let grid = if k % 2 == 0 { community_grids[k as usize / 2 % community_grids.len()] } else { &w.grids[(k as usize * 7) % w.grids.len()] };
        plan_incident(&mut p, w, t0, grid, true);
    }
    play(service, clock, w, p.actions)
}

/// The community a grid belongs to.
fn community_area(service: &Service, grid: &str) -> Result<String, AppError> {
    let parents = service.area_parents()?;
    Ok(parents.get(grid).cloned().flatten().unwrap_or_else(|| grid.to_owned()))
}

/// Pushes the actions in time order, one transaction per hour and device, with the clock at the
/// end of that hour's activity.
fn play(service: &Service, clock: &ManualClock, w: &World, mut actions: Vec<Action>) -> Result<(usize, usize), AppError> {
    actions.sort_by_key(|a| a.at);
    let (mut applied, mut rejected) = (0, 0);
    let mut i = 0;
    while i < actions.len() {
        let hour = actions[i].at.div_euclid(HOUR);
        let mut j = i;
        while j < actions.len() && actions[j].at.div_euclid(HOUR) == hour {
            j += 1;
        }
        // Devices sync a few minutes after the last action of the hour.
        let synced = actions[j - 1].at + 3 * MINUTE;
        clock.set(synced);
        // Batches per device: an op joins its device's batch unless an earlier op of the hour
        // that is not in the batch touched the same record (per-record order is kept).
        let mut pending: Vec<&Action> = actions[i..j].iter().collect();
        while let Some(first) = pending.first() {
            let actor = first.actor;
            let mut blocked: std::collections::HashSet<&str> = std::collections::HashSet::new();
            let (mut ops, mut rest) = (Vec::new(), Vec::new());
            for a in pending {
                if a.actor == actor && !blocked.contains(a.op.entity_id.as_str()) {
                    ops.push(Op { device_time: a.at.max(synced - 9 * MINUTE), ..a.op.clone() });
                } else {
                    blocked.insert(a.op.entity_id.as_str());
                    rest.push(a);
                }
            }
            pending = rest;
            let a = &w.actors[actor];
            let resp = service.push(&a.who, Origin::Device(&a.device_id), &PushRequest { protocol: PROTOCOL_VERSION, ops, sent_at: synced, scope_epoch: None })?;
            for r in &resp.results {
                if r.status == OpStatus::Rejected {
                    rejected += 1;
                    tracing::debug!(code = ?r.code, "demo history op rejected");
                } else {
                    applied += 1;
                }
            }
        }
        i = j;
    }
    Ok((applied, rejected))
}
