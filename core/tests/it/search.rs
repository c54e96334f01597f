//! Search: 1-, 2- and 3+-character queries over names, rooms and addresses (also through the
//! building's address), 4-digit phone fragments, ranking, limits, role rules, index upkeep.

use gridline_core::{HitKind, HouseholdPatch, MatchField, NewHousehold, NewResident, ResidentPatch, SearchHit};

use crate::support::*;

struct World {
    fx: Fx,
    wang_fang: String,
    wang_fangfang: String,
    li_ming: String,
    li_minghua: String,
    shop: String,
    resident_fang: String,
    resident_zhang_li_ming: String,
}

fn world() -> World {
    let fx = fx();
    let wang_fang = fx.household(&fx.b1, "502", "王芳", Some("13812345678")).id;
    let wang_fangfang = fx.household(&fx.b1, "1502", "王芳芳", None).id;
    let li_ming = fx.household(&fx.b2, "301", "李明", Some("0750-3125678")).id;
    let li_minghua = fx.household(&fx.b2, "302", "李明华", None).id;
    let shop = fx
        .store
        .create_household(NewHousehold { address: "白沙大道西3号底商".into(), ..new_household(&fx.b2, "商1", "周杰", None) })
        .unwrap()
        .id;
    let resident_fang = fx
        .store
        .create_resident(NewResident { household_id: li_ming.clone(), name: "陈芳".into(), phone: Some("13955556666".into()), ..Default::default() })
        .unwrap()
        .id;
    let resident_zhang_li_ming = fx
        .store
        .create_resident(NewResident { household_id: wang_fang.clone(), name: "张李明".into(), ..Default::default() })
        .unwrap()
        .id;
    fx.act_as(&worker2());
    fx.household(&fx.b3, "101", "赵强", Some("13700001111"));
    fx.act_as(&worker1());
    World { fx, wang_fang, wang_fangfang, li_ming, li_minghua, shop, resident_fang, resident_zhang_li_ming }
}

fn ids(hits: &[SearchHit]) -> Vec<String> {
    hits.iter().map(|h| h.id.clone()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn one_character_query_finds_every_name_containing_it() {
    let w = world();
    let hits = w.fx.store.search("芳", 50).unwrap();
    assert_eq!(
        sorted(ids(&hits)),
        sorted(vec![w.wang_fang.clone(), w.wang_fangfang.clone(), w.resident_fang.clone()])
    );
    assert!(hits.iter().all(|h| h.matched == MatchField::Name));
    let r = hits.iter().find(|h| h.id == w.resident_fang).unwrap();
    assert_eq!(r.kind, HitKind::Resident);
    assert_eq!(r.household_id, w.li_ming);
    assert_eq!(r.title, "陈芳");
    assert_eq!(r.detail, "建设路88号翠苑小区5栋301");
}

#[test]
fn two_character_names_are_found_and_exact_matches_rank_first() {
    let w = world();
    let hits = w.fx.store.search("李明", 50).unwrap();
    assert_eq!(ids(&hits), vec![w.li_ming.clone(), w.li_minghua.clone(), w.resident_zhang_li_ming.clone()]);
    assert!(hits.windows(2).all(|p| p[0].score > p[1].score));
    assert_eq!(hits[0].kind, HitKind::Household);
    assert_eq!(hits[0].title, "李明");

    let hits = w.fx.store.search("王芳", 50).unwrap();
    assert_eq!(ids(&hits), vec![w.wang_fang.clone(), w.wang_fangfang.clone()]);
    assert!(w.fx.store.search("芳王", 50).unwrap().is_empty());
}

#[test]
fn three_character_queries_are_verified() {
    let w = world();
    assert_eq!(ids(&w.fx.store.search("王芳芳", 50).unwrap()), vec![w.wang_fangfang.clone()]);
    assert_eq!(ids(&w.fx.store.search("李明华", 50).unwrap()), vec![w.li_minghua.clone()]);
    assert_eq!(ids(&w.fx.store.search("张李明", 50).unwrap()), vec![w.resident_zhang_li_ming.clone()]);
    // Every bigram of the query occurs in one name, but not in this order: the index offers
    // the row (all its grams are there) and the check against the stored name drops it.
    let shuffled = w.fx.household(&w.fx.b1, "601", "明华李明李", None).id;
    assert!(w.fx.store.search("明李明华", 50).unwrap().is_empty());
    assert_eq!(ids(&w.fx.store.search("华李明", 50).unwrap()), vec![shuffled]);
}

#[test]
fn rooms_match_with_exact_room_first() {
    let w = world();
    let hits = w.fx.store.search("502", 50).unwrap();
    assert_eq!(ids(&hits), vec![w.wang_fang.clone(), w.wang_fangfang.clone()]);
    assert!(hits.iter().all(|h| h.matched == MatchField::Room));
    let hits = w.fx.store.search("30", 50).unwrap();
    assert_eq!(sorted(ids(&hits)), sorted(vec![w.li_ming.clone(), w.li_minghua.clone()]));
}

#[test]
fn addresses_match_directly_and_through_the_building() {
    let w = world();
    // Only in the household's own address.
    let hits = w.fx.store.search("底商", 50).unwrap();
    assert_eq!(ids(&hits), vec![w.shop.clone()]);
    assert_eq!(hits[0].matched, MatchField::Address);
    assert_eq!(hits[0].detail, "白沙大道西3号底商");

    // In the building's part of the address: every household whose address carries it.
    let hits = w.fx.store.search("翠苑小区5栋", 50).unwrap();
    assert_eq!(sorted(ids(&hits)), sorted(vec![w.li_ming.clone(), w.li_minghua.clone()]));
    assert!(hits.iter().all(|h| h.matched == MatchField::Address));
    let hits = w.fx.store.search("建设路", 50).unwrap();
    assert_eq!(
        sorted(ids(&hits)),
        sorted(vec![w.wang_fang.clone(), w.wang_fangfang.clone(), w.li_ming.clone(), w.li_minghua.clone()])
    );
    let hits = w.fx.store.search("金湾花园", 50).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].title, "赵强");

    // A query spanning the building's address and the room.
    let hits = w.fx.store.search("3栋502", 50).unwrap();
    assert_eq!(ids(&hits), vec![w.wang_fang.clone()]);
    let hits = w.fx.store.search("翠苑小区5栋302", 50).unwrap();
    assert_eq!(ids(&hits), vec![w.li_minghua.clone()]);
    assert!(w.fx.store.search("5栋502", 50).unwrap().is_empty());
}

#[test]
fn phone_fragments_of_four_digits_find_households_and_residents() {
    let w = world();
    let hits = w.fx.store.search("5678", 50).unwrap();
    assert_eq!(sorted(ids(&hits)), sorted(vec![w.wang_fang.clone(), w.li_ming.clone()]));
    assert!(hits.iter().all(|h| h.matched == MatchField::Phone));
    let hits = w.fx.store.search("5555", 50).unwrap();
    assert_eq!(ids(&hits), vec![w.resident_fang.clone()]);
    assert_eq!(hits[0].phone.as_deref(), Some("13955556666"));
    // Longer fragments, with separators typed in.
    assert_eq!(ids(&w.fx.store.search("138-1234", 50).unwrap()), vec![w.wang_fang.clone()]);
    assert_eq!(ids(&w.fx.store.search("13812345678", 50).unwrap()), vec![w.wang_fang.clone()]);
    assert!(w.fx.store.search("9999", 50).unwrap().is_empty());
}

#[test]
fn building_heads_get_no_phone_search_and_masked_phones() {
    let w = world();
    w.fx.act_as(&w.fx.head());
    assert!(w.fx.store.search("5678", 50).unwrap().is_empty());
    assert!(w.fx.store.search("13812345678", 50).unwrap().is_empty());
    let hits = w.fx.store.search("王芳", 50).unwrap();
    assert_eq!(hits[0].id, w.wang_fang);
    assert_eq!(hits[0].phone.as_deref(), Some("138****5678"));
}

#[test]
fn limit_is_honoured_and_best_hits_are_kept() {
    let w = world();
    let all = w.fx.store.search("李明", 50).unwrap();
    let two = w.fx.store.search("李明", 2).unwrap();
    assert_eq!(two, all[..2].to_vec());
    assert_eq!(w.fx.store.search("李明", 1).unwrap(), all[..1].to_vec());
    assert!(w.fx.store.search("李明", 0).unwrap().is_empty());
    assert!(w.fx.store.search("  ", 10).unwrap().is_empty());
    assert!(w.fx.store.search("，。", 10).unwrap().is_empty());

    // Many households in one building: the limit cuts the list.
    let news: Vec<_> = (0..30).map(|i| new_household(&w.fx.b1, &format!("{}", 600 + i), &format!("孙{i}"), None)).collect();
    w.fx.store.create_households(news).unwrap();
    assert_eq!(w.fx.store.search("孙", 10).unwrap().len(), 10);
    assert_eq!(w.fx.store.search("孙", 100).unwrap().len(), 30);
    assert_eq!(w.fx.store.search("翠苑小区3栋", 7).unwrap().len(), 7);
}

#[test]
fn queries_ignore_case_spaces_and_punctuation() {
    let w = world();
    let h = w.fx.household(&w.fx.b1, "A-12", "Zhang Wei", None);
    assert_eq!(ids(&w.fx.store.search("zhang", 10).unwrap()), vec![h.id.clone()]);
    assert_eq!(ids(&w.fx.store.search("ZHANGWEI", 10).unwrap()), vec![h.id.clone()]);
    assert_eq!(ids(&w.fx.store.search("a12", 10).unwrap()), vec![h.id.clone()]);
    assert_eq!(ids(&w.fx.store.search(" 王 芳 ", 10).unwrap())[0], w.wang_fang);
}

#[test]
fn index_follows_updates_and_deletes() {
    let w = world();
    let store = &w.fx.store;
    store.update_household(&w.li_ming, HouseholdPatch { head_name: Some("欧阳明".into()), phone: Some("".into()), ..Default::default() }).unwrap();
    assert_eq!(ids(&store.search("李明", 50).unwrap()), vec![w.li_minghua.clone(), w.resident_zhang_li_ming.clone()]);
    assert_eq!(ids(&store.search("欧阳", 50).unwrap()), vec![w.li_ming.clone()]);
    assert!(store.search("3125", 50).unwrap().is_empty());

    store.update_resident(&w.resident_fang, ResidentPatch { name: Some("陈晓".into()), ..Default::default() }).unwrap();
    assert!(!ids(&store.search("芳", 50).unwrap()).contains(&w.resident_fang));
    assert_eq!(ids(&store.search("陈晓", 50).unwrap()), vec![w.resident_fang.clone()]);

    // A household moved to another building is found through the new building.
    store.update_household(&w.wang_fangfang, HouseholdPatch { building_id: Some(w.fx.b2.clone()), address: Some("建设路88号翠苑小区5栋1502".into()), ..Default::default() }).unwrap();
    assert!(ids(&store.search("翠苑小区5栋", 50).unwrap()).contains(&w.wang_fangfang));
    assert!(!ids(&store.search("翠苑小区3栋", 50).unwrap()).contains(&w.wang_fangfang));

    store.delete_resident(&w.resident_zhang_li_ming).unwrap();
    assert_eq!(ids(&store.search("李明", 50).unwrap()), vec![w.li_minghua.clone()]);
    store.delete_household(&w.li_ming).unwrap();
    assert!(store.search("欧阳", 50).unwrap().is_empty());
    // Its resident went with it.
    assert!(store.search("陈晓", 50).unwrap().is_empty());
    assert!(store.search("5555", 50).unwrap().is_empty());
}

#[test]
fn edits_of_fields_outside_the_search_document_leave_the_index_untouched() {
    let w = world();
    let store = &w.fx.store;
    // The index's own storage (segments and per-row records), as a canonical text.
    let index = || -> String {
        store
            .read(|c| {
                let mut out = String::new();
                for t in ["household_fts_data", "household_fts_docsize", "resident_fts_data", "resident_fts_docsize"] {
                    let rows: Vec<String> = c
                        .prepare(&format!("SELECT quote(id), quote(block) FROM {t} ORDER BY id"))
                        .or_else(|_| c.prepare(&format!("SELECT quote(id), quote(sz) FROM {t} ORDER BY id")))?
                        .query_map([], |r| Ok(format!("{}={}", r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                        .collect::<Result<_, _>>()?;
                    out.push_str(&format!("{t}:{}\n", rows.join(",")));
                }
                Ok(out)
            })
            .unwrap()
    };
    let before = index();
    store
        .update_household(
            &w.wang_fang,
            HouseholdPatch { notes: Some("走访过".into()), member_count: Some(4), care_tags: Some(vec!["elderly_alone".into()]), ..Default::default() },
        )
        .unwrap();
    store.update_resident(&w.resident_fang, ResidentPatch { relation: Some("配偶".into()), ..Default::default() }).unwrap();
    assert_eq!(index(), before, "no search entry rewritten");
    assert_eq!(ids(&store.search("王芳", 50).unwrap())[0], w.wang_fang);
    // An edit of an indexed field does rewrite the entry.
    store.update_household(&w.wang_fang, HouseholdPatch { room: Some("503".into()), ..Default::default() }).unwrap();
    assert_ne!(index(), before);
    assert!(ids(&store.search("503", 50).unwrap()).contains(&w.wang_fang));
}

#[test]
fn changing_a_building_keeps_its_households_findable_by_their_own_address() {
    let w = world();
    w.fx.act_as(&supervisor());
    w.fx.store
        .update_building(
            &w.fx.b2,
            gridline_core::BuildingPatch {
                name: Some("翠苑小区五栋".into()),
                address: Some("建设路90号翠苑小区5栋".into()),
                ..Default::default()
            },
        )
        .unwrap();
    // Households keep the addresses they were registered with.
    let both = sorted(vec![w.li_ming.clone(), w.li_minghua.clone()]);
    assert_eq!(sorted(ids(&w.fx.store.search("88号翠苑小区5栋", 50).unwrap())), both);
    assert_eq!(ids(&w.fx.store.search("88号翠苑小区5栋301", 50).unwrap()), vec![w.li_ming.clone()]);
    assert_eq!(w.fx.store.household(&w.li_ming).unwrap().address, "建设路88号翠苑小区5栋301");
    // Moving the household's own address moves its search entry.
    w.fx.store
        .update_household(&w.li_ming, HouseholdPatch { address: Some("建设路90号翠苑小区5栋301".into()), ..Default::default() })
        .unwrap();
    assert_eq!(ids(&w.fx.store.search("90号翠苑", 50).unwrap()), vec![w.li_ming.clone()]);
    assert_eq!(ids(&w.fx.store.search("88号翠苑小区5栋", 50).unwrap()), vec![w.li_minghua.clone()]);
}
