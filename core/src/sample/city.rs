//! The demo city: the Jiangmen jurisdiction tree, buildings grouped in estates, households
//! with rooms, care tags and notes, and the residents of each household.

use std::collections::{BTreeSet, HashMap};

use super::*;

/// One node of the demo jurisdiction tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaSeed {
    /// Unique hierarchical code, e.g. `JM-JH-JN-XZ-G03`.
    pub code: String,
    /// Display name, e.g. `新中社区第3网格`.
    pub name: String,
    /// One of `city`, `district`, `county_city`, `street`, `town`, `community`, `village`, `grid`.
    pub kind: &'static str,
    /// Code of the parent area; `None` only for the city.
    pub parent_code: Option<String>,
}

/// The part of jiangmen.json the demo needs, one county-level division a line: code,
/// name, kind and ID region code, then its streets/towns separated by `;` (code, name,
/// kind, and the communities/villages listed there as `code:name`).
const LAYOUT: &str = "\
PJ 蓬江区 district 440703: BS 白沙街道 street; HS 环市街道 street; CL 潮连街道 street; DZ 杜阮镇 town
JH 江海区 district 440704: JN 江南街道 street XZ:新中社区; WS 外海街道 street; LX 礼乐街道 street
XH 新会区 district 440705: HC 会城街道 street; SS 双水镇 town QM:桥美村; DA 大鳌镇 town; GJ 古井镇 town LB:岭北村
TS 台山市 county_city 440781: TC 台城街道 street
KP 开平市 county_city 440783: CC 长沙街道 street
HS 鹤山市 county_city 440784: SX 沙坪街道 street
EP 恩平市 county_city 440785: EC 恩城街道 street";

/// `(name, ID region code)` of the seven county-level divisions.
pub(super) fn jiangmen_regions() -> impl Iterator<Item = (&'static str, &'static str)> {
    LAYOUT.lines().map(|l| {
        let f: Vec<&str> = l.split([' ', ':']).collect();
        (f[1], f[3])
    })
}

/// Stems for generated communities (urban) and villages (rural), with unique pinyin initials.
pub(super) const COMMUNITY_STEMS: &str = "东湖DH 北郊BJ 西华XH 富华FH 建设JS 跃进YJ 金华JH 紫茶ZC 联和LH 水南SN \
光明GM 丰雅FY 永盛YS 竹园ZY 莲塘LT 江边JB 华侨HQ 甘化GH 五福WF 仓后CH 港口GK 胜利SL 育德YD 启明QM 农林NL \
群星QX 长堤CD 天沙TS 城南CN 城西CX 堤东DD 篁庄HZ 白石BS 新民XM 龙溪LX 丽苑LY 五邑WY 紫沙ZS 福泉FQ";
pub(super) const VILLAGE_STEMS: &str = "龙湾LW 石头ST 大岗DG 坑口KK 沙堤SD 塘边TB 南坑NK 上村SC 下洞XD 石咀SZ 井根JG \
水口SK 大塘DT 良溪LX 冈头GT 黄冲HC 禾岗HG 莲子LZ 马山MS 茶坑CK 横江HJ 荻海DH 三江SJ 小冈XG 长安CA 梅阁MG \
潭江TJ 塘美TM 平冈PG 石龙SL";

fn area(code: &str, name: &str, kind: &'static str, parent: Option<&str>) -> AreaSeed {
    let parent_code = parent.map(str::to_string);
    AreaSeed {
        code: code.into(),
        name: name.into(),
        kind,
        parent_code,
    }
}

/// Tops `comms` up to `want` generated `(code, name)` pairs, unique among siblings;
/// after every stem is used, further rounds add 新/东/西/… (then a number) to the names.
fn top_up(comms: &mut Vec<(String, String)>, want: usize, street_code: &str, town: bool) {
    let (stems, suffix) = [(COMMUNITY_STEMS, "社区"), (VILLAGE_STEMS, "村")][usize::from(town)];
    let stems: Vec<&str> = stems.split(' ').collect();
    // Seeded by the street code, so the tree is the same on every call.
    let mut rng = Rng::new(
        street_code
            .bytes()
            .fold(0, |h, b| h.rotate_left(5) ^ u64::from(b)),
    );
    let mut order: Vec<usize> = (0..stems.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.index(i + 1));
    }
    for k in 0.. {
        if comms.len() >= want {
            break;
        }
        let stem = stems[order[k % stems.len()]];
        let (stem, abbr) = stem.split_at(stem.len() - 2);
        let (variant, round) = match k / stems.len() {
            0 => (String::new(), String::new()),
            r @ 1..=6 => (
                "新东西南北中".chars().skip(r - 1).take(1).collect(),
                r.to_string(),
            ),
            r => (r.to_string(), r.to_string()),
        };
        let (code, name) = (format!("{abbr}{round}"), format!("{stem}{variant}{suffix}"));
        if !comms.iter().any(|(c, n)| *c == code || *n == name) {
            comms.push((code, name));
        }
    }
}

/// The Jiangmen demo tree: the city (`JM`), its seven county-level divisions, every
/// street/town of jiangmen.json, the communities/villages listed there topped up with
/// generated ones to `communities_per_street` per street/town, and `grids_per_community`
/// grids under each. Codes are unique; parents come before children.
pub fn demo_areas(grids_per_community: usize, communities_per_street: usize) -> Vec<AreaSeed> {
    let mut out = vec![area("JM", "江门市", "city", None)];
    for line in LAYOUT.lines() {
        let (head, streets) = line.split_once(": ").unwrap_or((line, ""));
        let d: Vec<&str> = head.split(' ').collect();
        let division = format!("JM-{}", d[0]);
        out.push(area(&division, d[1], d[2], Some("JM")));
        for street in streets.split("; ") {
            let f: Vec<&str> = street.split(' ').collect();
            let (code, kind) = (format!("{division}-{}", f[0]), f[2]);
            out.push(area(&code, f[1], kind, Some(&division)));
            let listed = f[3..].iter().filter_map(|c| c.split_once(':'));
            let mut comms: Vec<(String, String)> = listed
                .map(|(c, n)| (c.to_string(), n.to_string()))
                .collect();
            top_up(&mut comms, communities_per_street, &code, kind == "town");
            let ckind = ["community", "village"][usize::from(kind == "town")];
            for (ccode, cname) in comms {
                let ccode = format!("{code}-{ccode}");
                out.push(area(&ccode, &cname, ckind, Some(&code)));
                for g in 1..=grids_per_community {
                    let (gcode, gname) = (format!("{ccode}-G{g:02}"), format!("{cname}第{g}网格"));
                    out.push(area(&gcode, &gname, "grid", Some(&ccode)));
                }
            }
        }
    }
    out
}

/// A demo building inside a grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildingSeed {
    /// Code of the grid the building belongs to.
    pub grid_code: String,
    /// Short name, e.g. `翠苑小区3栋`.
    pub name: String,
    /// Address without the city, e.g. `江海区江南街道建设路18号翠苑小区3栋`.
    pub address: String,
    /// Number of floors.
    pub floors: u32,
    /// Flats per floor.
    pub units: u32,
}

/// Turns `江门市江海区江南街道新中社区` into the address prefix `江海区江南街道`.
pub(super) fn address_prefix(area_path: &str) -> String {
    let rest = area_path.strip_prefix("江门市").unwrap_or(area_path);
    let ends = ["街道", "镇"].map(|m| rest.find(m).map_or(rest.len(), |i| i + m.len()));
    rest[..ends[0].min(ends[1])].to_string()
}

/// `n` buildings in one grid, grouped in estates of 3-12 buildings, each estate on a road.
/// `grid_area_path` is the grid's area path, e.g. `江门市江海区江南街道新中社区`.
pub fn demo_buildings(
    rng: &mut Rng,
    grid_code: &str,
    grid_area_path: &str,
    n: usize,
) -> Vec<BuildingSeed> {
    let prefix = address_prefix(grid_area_path);
    let mut out = Vec::with_capacity(n);
    let mut used: Vec<String> = Vec::new();
    while out.len() < n {
        let base = estate_name(rng);
        let phase = used.iter().filter(|u| **u == base).count();
        used.push(base.clone());
        let estate = match phase {
            0 => base,
            _ => format!("{base}{}期", phase + 1), // a later phase of a same-named estate
        };
        let (road, number) = (road_name(rng), rng.between(1, 300));
        let (floors, units) = match &estate {
            e if e.contains("新村") => ((5, 8), (2, 3)),
            e if e.contains("公寓") => ((12, 30), (4, 8)),
            _ => ((6, 33), (2, 6)),
        };
        for b in 1..=(n - out.len()).min(rng.between(3, 12) as usize) {
            let name = format!("{estate}{b}栋");
            out.push(BuildingSeed {
                grid_code: grid_code.to_string(),
                address: format!("{prefix}{road}{number}号{name}"),
                name,
                floors: rng.between(floors.0, floors.1),
                units: rng.between(units.0, units.1),
            });
        }
    }
    out
}

/// A demo household (户) in a building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdSeed {
    /// Room number, floor * 100 + flat, e.g. `502`; unique within the building.
    pub room: String,
    /// Building address + room + `房`.
    pub address: String,
    /// Name of the head of household.
    pub head_name: String,
    /// Contact phone: mobile (85%) or Jiangmen landline.
    pub phone: String,
    /// Number of registered members, 1-6.
    pub member_count: u32,
    /// Care tag codes from jiangmen.json; empty for most households.
    pub care_tags: Vec<&'static str>,
    /// Worker notes; empty for most households.
    pub notes: String,
}

pub(super) const NOTES: &str = "户主常年在外务工，由亲属代为联系 子女在香港工作，逢年过节回来 \
家中养犬，走访前请先电话联系 夜班工作，宜下午走访 老人只讲台山话，需家属翻译 长期居住海外，房屋托亲戚照看";

/// `n` distinct room numbers (ascending) for a building. When `n` exceeds
/// `floors * units`, rooms spill onto notional floors above the top one.
fn pick_rooms(rng: &mut Rng, floors: u32, units: u32, n: usize) -> Vec<String> {
    let units = u64::from(units.max(1));
    let capacity = u64::from(floors).max((n as u64).div_ceil(units)) * units;
    // Floyd's algorithm: n distinct slots out of `capacity`, kept sorted.
    let mut slots = BTreeSet::new();
    for j in capacity - n as u64..capacity {
        let t = rng.below(j + 1);
        if !slots.insert(t) {
            slots.insert(j);
        }
    }
    let width = units.to_string().len().max(2);
    let room = |s: u64| format!("{}{:0width$}", s / units + 1, s % units + 1);
    slots.into_iter().map(room).collect()
}

/// Care tags (codes from jiangmen.json) with their per-mille odds per household.
const CARE_ODDS: &str = "elderly_alone:40 elderly_80plus:50 disabled:25 low_income:20 \
left_behind_child:15 veteran:20 serious_illness:15 rental:100 floating_population:10 overseas_chinese_family:80";

/// `n` households in `building` with unique rooms; care tags and notes are rare,
/// except 侨眷 (overseas Chinese families), common in Jiangmen and more so in Taishan/Kaiping/Enping.
pub fn demo_households(rng: &mut Rng, building: &BuildingSeed, n: usize) -> Vec<HouseholdSeed> {
    let hub = matches!(
        building.address.get(..9),
        Some("台山市" | "开平市" | "恩平市")
    );
    let odds: Vec<(&str, f64)> = CARE_ODDS
        .split(' ')
        .filter_map(|t| t.split_once(':'))
        .map(|(code, per_mille)| (code, per_mille.parse().unwrap_or(0.0) / 1000.0))
        .collect();
    let rooms = pick_rooms(rng, building.floors, building.units, n);
    let mut out = Vec::with_capacity(n);
    for room in rooms {
        let mut tags: Vec<&'static str> = Vec::new();
        for &(code, p) in &odds {
            let p = match code {
                "left_behind_child" | "rental" if tags.contains(&"elderly_alone") => 0.0,
                "floating_population" if tags.contains(&"rental") => 0.5,
                "overseas_chinese_family" if tags.contains(&"rental") => 0.0,
                "overseas_chinese_family" if hub => 0.2,
                _ => p,
            };
            if rng.chance(p) {
                tags.push(code);
            }
        }
        let member_count = match 1 + weighted_index(rng, &[12, 30, 27, 18, 9, 4]) as u32 {
            _ if tags.contains(&"elderly_alone") => 1,
            c if tags.contains(&"left_behind_child") => c.max(3),
            c => c,
        };
        let phone = if rng.chance(0.85) {
            mobile_phone(rng)
        } else {
            landline(rng)
        };
        let notes = if rng.chance(0.06) {
            pick_word(rng, NOTES)
        } else {
            ""
        };
        out.push(HouseholdSeed {
            address: format!("{}{room}房", building.address),
            room,
            head_name: person_name(rng),
            phone,
            member_count,
            care_tags: tags,
            notes: notes.to_string(),
        });
    }
    out
}

/// A demo resident (人口) of a household.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentSeed {
    /// Full name.
    pub name: String,
    /// 18-character ID number consistent with `birth_date`.
    pub id_number: String,
    /// Mobile phone, if the resident has one.
    pub phone: Option<String>,
    /// Birth date as `YYYY-MM-DD`, the same as digits 7-14 of the ID number.
    pub birth_date: String,
    /// Relation to the head: 户主 配偶 子女 父母 孙子女 其他.
    pub relation: &'static str,
}

/// The relations of a household's members after the head, given its size and the head's age.
fn relations(rng: &mut Rng, members: usize, head_age: u32, left_behind: bool) -> Vec<&'static str> {
    let mut rels = vec!["户主"];
    if members > 1 && rng.chance(0.85) {
        rels.push("配偶");
    }
    let plan: &[(&str, usize)] = match head_age {
        _ if left_behind => &[("孙子女", 3)],
        58.. => &[("子女", 2), ("孙子女", 3)],
        _ => &[("子女", 3), ("父母", 2)],
    };
    for &(rel, cap) in plan {
        let room = members.saturating_sub(rels.len()).min(cap);
        rels.extend(std::iter::repeat_n(rel, room));
    }
    rels.resize(members, "其他");
    rels
}

/// `household.member_count` residents; the first is the head (户主) named `head_name`.
/// Children and grandchildren carry the head's surname; ages fit each relation.
pub fn demo_residents(rng: &mut Rng, household: &HouseholdSeed) -> Vec<ResidentSeed> {
    let has = |t: &str| household.care_tags.contains(&t);
    let regions: Vec<(&str, &str)> = jiangmen_regions().collect();
    let local = regions.iter().find(|r| household.address.starts_with(r.0));
    let local = local.map_or("440704", |r| r.1);
    let left_behind = has("left_behind_child");
    let a = i64::from(if has("elderly_80plus") {
        rng.between(80, 98)
    } else if has("elderly_alone") {
        rng.between(65, 90)
    } else if left_behind {
        rng.between(55, 72)
    } else {
        rng.between(22, 50) + rng.between(0, 35) // peaks in the early fifties
    });
    let members = household.member_count.max(1) as usize;
    let rels = relations(rng, members, a as u32, left_behind);
    let family = surname_of(&household.head_name).to_string();
    let head_male = rng.chance(0.65);
    let mut out: Vec<ResidentSeed> = Vec::with_capacity(rels.len());
    for rel in rels {
        let kin = |rng: &mut Rng| format!("{family}{}", given_name(rng));
        let father = !out.iter().any(|r| r.relation == "父母");
        let (age, male, name) = match rel {
            "户主" => (a, head_male, household.head_name.clone()),
            "配偶" => (a + rng.range_i64(-5, 5), !head_male, person_name(rng)),
            "子女" => (a - rng.range_i64(22, 36), rng.chance(0.5), kin(rng)),
            "孙子女" if left_behind => (rng.range_i64(3, 15), rng.chance(0.5), kin(rng)),
            "孙子女" => (a - rng.range_i64(48, 62), rng.chance(0.5), kin(rng)),
            // The first parent is the father, who shares a male head's surname.
            "父母" if father && head_male => (a + rng.range_i64(22, 34), true, kin(rng)),
            "父母" => (a + rng.range_i64(22, 34), father, person_name(rng)),
            _ => (rng.range_i64(18, 70), rng.chance(0.5), person_name(rng)),
        };
        let age = age.clamp(0, 100) as u16;
        let date = random_date(rng, REF_YEAR - age);
        let region = match rng.f64() {
            _ if has("floating_population") => pick_word(rng, OTHER_REGIONS),
            x if x < 0.85 => local,
            x if x < 0.94 => rng.pick(&regions).1,
            _ => pick_word(rng, OTHER_REGIONS),
        };
        let p_phone = [0.03, 0.85, 0.3][usize::from(age >= 16) + usize::from(age >= 75)];
        let phone = match rel {
            "户主" if household.phone.starts_with('1') => Some(household.phone.clone()),
            "户主" => Some(mobile_phone(rng)),
            _ => rng.chance(p_phone).then(|| mobile_phone(rng)),
        };
        out.push(ResidentSeed {
            name,
            id_number: make_id(rng, region, date, male),
            phone,
            birth_date: format!("{:04}-{:02}-{:02}", date.0, date.1, date.2),
            relation: rel,
        });
    }
    out
}

/// `n` households over buildings of 40-60 households each, in eight grids spread over
/// the demo tree, so roads, estates and address prefixes repeat as in a real city.
/// Meant for benchmarks; deterministic in `seed`.
pub fn households_flat(seed: u64, n: usize) -> Vec<(BuildingSeed, Vec<HouseholdSeed>)> {
    let mut rng = Rng::new(seed);
    let areas = demo_areas(2, 2);
    let by_code: HashMap<&str, &str> = areas.iter().map(|a| (&*a.code, &*a.name)).collect();
    let grids: Vec<&AreaSeed> = areas.iter().filter(|a| a.kind == "grid").collect();
    let mut sizes = Vec::new();
    let mut left = n;
    while left > 0 {
        sizes.push((rng.between(40, 60) as usize).min(left));
        left -= sizes[sizes.len() - 1];
    }
    let mut out = Vec::with_capacity(sizes.len());
    for g in 0..8 {
        let grid = grids[g * grids.len() / 8];
        // The grid's area path: the names of its ancestors, whose codes are its code's prefixes.
        let parts: Vec<&str> = grid.code.split('-').collect();
        let path: String = (1..parts.len())
            .map(|k| by_code[&*parts[..k].join("-")])
            .collect();
        let mine: Vec<u32> = sizes.iter().skip(g).step_by(8).map(|s| *s as u32).collect();
        let buildings = demo_buildings(&mut rng, &grid.code, &path, mine.len());
        for (mut b, size) in buildings.into_iter().zip(mine) {
            if b.floors * b.units < size {
                b.units = b.units.max(size.div_ceil(b.floors).min(8));
                b.floors = b.floors.max(size.div_ceil(b.units));
            }
            let households = demo_households(&mut rng, &b, size as usize);
            out.push((b, households));
        }
    }
    out
}
