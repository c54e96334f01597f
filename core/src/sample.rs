//! Deterministic synthetic data (names, IDs, phones, the Jiangmen area tree, buildings, households, residents, incidents) for demos, tests and benchmarks.
//!
//! Everything is derived from a `u64` seed through the small [`Rng`] below, so the
//! same seed always yields the same data on every platform. All people, phone
//! numbers and ID numbers are invented; ID numbers carry a valid check character.

use std::collections::{BTreeSet, HashMap};

/// The year ages are counted from, so output never depends on the wall clock.
const REF_YEAR: u16 = 2024;

// ---------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------

/// A small deterministic PRNG: xoshiro256** seeded through SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// Creates a generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut s = [0u64; 4];
        for slot in &mut s {
            *slot = splitmix64(&mut x);
        }
        Rng { s }
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Returns a uniform integer in `0..n` (unbiased). Panics if `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below needs n > 0");
        // Lemire's multiply-and-reject method.
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// Returns a uniform integer in `lo..=hi` (both ends inclusive). Panics if `lo > hi`.
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo <= hi, "Rng::range_i64 needs lo <= hi");
        let span = (i128::from(hi) - i128::from(lo) + 1) as u128;
        if span > u128::from(u64::MAX) {
            return self.next_u64() as i64;
        }
        (i128::from(lo) + i128::from(self.below(span as u64))) as i64
    }

    /// Returns `true` with probability `p` (values outside 0..=1 saturate).
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Returns a uniformly chosen element of `items`. Panics if `items` is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Returns a uniform float in `[0, 1)` with 53 random bits.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    fn between(&mut self, lo: u32, hi: u32) -> u32 {
        self.range_i64(i64::from(lo), i64::from(hi)) as u32
    }
}

/// Picks from `(item, weight)` pairs with probability proportional to weight.
fn weighted<'a, T>(rng: &mut Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
    let mut r = rng.below(total);
    for (item, w) in items {
        if r < u64::from(*w) {
            return item;
        }
        r -= u64::from(*w);
    }
    &items[items.len() - 1].0
}

/// Picks one character from a string of 3-byte (CJK) characters without scanning it.
fn pick_char(rng: &mut Rng, s: &str) -> char {
    let i = rng.index(s.len() / 3) * 3;
    s[i..].chars().next().unwrap_or('明')
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

// ---------------------------------------------------------------------------
// Names, phones, ID numbers
// ---------------------------------------------------------------------------

/// Surnames with relative weights, tilted toward Jiangmen (陈 黄 梁 李, 司徒 in Kaiping/Taishan).
const SURNAMES: &[(&str, u32)] = &[
    ("陈", 95), ("李", 70), ("黄", 70), ("梁", 55), ("张", 45), ("王", 40), ("刘", 38), ("林", 35),
    ("吴", 32), ("何", 30), ("谭", 28), ("周", 22), ("郑", 22), ("关", 20), ("冯", 20), ("余", 18),
    ("罗", 18), ("杨", 18), ("赵", 15), ("伍", 15), ("邓", 12), ("叶", 12), ("谢", 12), ("区", 12),
    ("司徒", 12), ("甄", 10), ("许", 10), ("徐", 10), ("朱", 10), ("胡", 10), ("郭", 10), ("苏", 10),
    ("卢", 10), ("钟", 10), ("麦", 10), ("邝", 8), ("雷", 8), ("孙", 8), ("马", 8), ("高", 8),
    ("唐", 8), ("莫", 8), ("蔡", 8), ("潘", 8), ("曾", 8), ("宋", 6), ("曹", 6), ("容", 6),
    ("汤", 6), ("方", 6), ("温", 6), ("彭", 6), ("袁", 6), ("韩", 5), ("吕", 5), ("沈", 5),
    ("龙", 4), ("欧阳", 3), ("上官", 1), ("司马", 1),
];

/// Common given-name characters, all 3 bytes in UTF-8.
const GIVEN: &str = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂兰华建国志红玉梅文斌辉宇浩鹏飞\
鑫波海林燕玲婷雪琳慧晶颖佳欣怡嘉俊宏健峰亮坤荣振凯晨旭阳春冬秋莉萍琴云凤珍彬智德永庆福祥瑞安康宁\
泰和顺发达新民成金铭锦淑贤惠美娴雅诗思梓睿子轩涵博文豪杰浩然可馨雨彤卓锐晓东昌盛耀光月清泉秀凤娇\
少伦家乐铨炳棠耀汝坚锋柏基添伟棋添祖光钊焕权满妹好娣彩嫦笑莲坚炜";

const COMPOUND_SURNAMES: &[&str] = &["司徒", "欧阳", "上官", "司马"];

fn surname(rng: &mut Rng) -> &'static str {
    weighted(rng, SURNAMES)
}

fn given_name(rng: &mut Rng) -> String {
    let n = if rng.chance(0.7) { 1 } else { 2 };
    (0..n).map(|_| pick_char(rng, GIVEN)).collect()
}

/// The surname part of a name produced by [`person_name`] (compound surnames included).
fn surname_of(name: &str) -> &str {
    for c in COMPOUND_SURNAMES {
        if name.starts_with(c) && name.chars().count() > 2 {
            return c;
        }
    }
    name.char_indices().nth(1).map_or(name, |(i, _)| &name[..i])
}

/// A plausible Chinese personal name: weighted surname + one (70%) or two given characters.
pub fn person_name(rng: &mut Rng) -> String {
    let mut name = surname(rng).to_string();
    name.push_str(&given_name(rng));
    name
}

const MOBILE_PREFIXES: &[u16] = &[
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
    166, 170, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191, 198, 199,
];

/// An 11-digit mainland mobile number with a valid carrier prefix.
pub fn mobile_phone(rng: &mut Rng) -> String {
    format!("{}{:08}", rng.pick(MOBILE_PREFIXES), rng.below(100_000_000))
}

/// A Jiangmen landline: `0750-` followed by 7 digits starting with 3-6.
pub fn landline(rng: &mut Rng) -> String {
    format!("0750-{}{:06}", rng.between(3, 6), rng.below(1_000_000))
}

/// Region codes of people registered outside Jiangmen (migrant workers, in-laws).
const OTHER_REGIONS: &[&str] = &[
    "450102", "430102", "360102", "510104", "420102", "441302", "440106", "445102", "441402",
    "440883", "452402", "431121",
];

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn random_date(rng: &mut Rng, year: u16) -> (u16, u8, u8) {
    let month = rng.between(1, 12) as u8;
    let day = rng.between(1, u32::from(days_in_month(year, month))) as u8;
    (year, month, day)
}

/// The ISO 7064 MOD 11-2 check character for the first 17 digits of an ID number.
fn id_check_char(body: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

fn make_id(rng: &mut Rng, region: &str, date: (u16, u8, u8), male: bool) -> String {
    // The sequence's last digit carries the sex: odd for men, even for women.
    let seq = (rng.below(499) + 1) * 2 + u64::from(male);
    let body = format!("{region}{:04}{:02}{:02}{seq:03}", date.0, date.1, date.2);
    let check = id_check_char(&body);
    format!("{body}{check}")
}

/// An 18-character PRC resident ID with a Jiangmen region code, a valid birth date
/// in `birth_year_range` (inclusive; order of the ends does not matter) and a correct check character.
pub fn resident_id(rng: &mut Rng, birth_year_range: (u16, u16)) -> String {
    let (lo, hi) = (birth_year_range.0.min(birth_year_range.1), birth_year_range.0.max(birth_year_range.1));
    let region = rng.pick(DIVISIONS).3;
    let year = rng.between(u32::from(lo), u32::from(hi)) as u16;
    let date = random_date(rng, year);
    let male = rng.chance(0.5);
    make_id(rng, region, date, male)
}

// ---------------------------------------------------------------------------
// Roads and estates
// ---------------------------------------------------------------------------

const ROAD_STEMS: &[&str] = &[
    "建设", "港口", "胜利", "白沙", "迎宾", "跃进", "北新", "东华", "五邑", "中山", "人民", "解放",
    "江华", "群星", "发展", "堤东", "长堤", "会城", "侨乡", "龙湾", "丰乐", "华园", "农林", "育德",
    "启明", "天沙", "滨江", "甘化", "金瓯", "五福", "东湖", "仓后", "紫沙", "良化", "江翠", "篁庄",
    "西堤", "环市", "杜阮", "新宁", "石化", "冈州",
];

/// A plausible road name such as 建设路, 港口二路, 白沙大道 or 仓后巷.
pub fn road_name(rng: &mut Rng) -> String {
    let stem = rng.pick(ROAD_STEMS);
    let suffix = *weighted(rng, &[("路", 60), ("大道", 12), ("街", 18), ("巷", 10)]);
    if suffix == "路" && rng.chance(0.15) {
        let infix = pick_char(rng, "东西南北中一二三");
        return format!("{stem}{infix}路");
    }
    format!("{stem}{suffix}")
}

const ESTATE_STEMS: &[&str] = &[
    "翠苑", "丰乐", "华园", "东湖", "金汇", "御景", "江海", "富华", "怡景", "骏景", "名门", "锦绣",
    "海逸", "嘉和", "凯茵", "雅居", "阳光", "帝景", "星汇", "汇景", "侨新", "龙湾", "康乐", "城南",
    "白沙", "滨江", "紫荆", "银湖", "景湖", "绿岛", "水岸", "东方", "新城", "桂园", "荷塘", "逸景",
    "丽都", "金山", "富康", "景江",
];

/// Estate names that are used whole rather than stem + suffix.
const ESTATE_WHOLE: &[&str] = &["碧桂园", "华侨新村", "丽宫花园", "凤凰苑", "江门万达公寓", "五邑豪庭"];

/// A plausible residential estate name such as 翠苑小区, 丰乐花园, 华园新村 or 碧桂园.
pub fn estate_name(rng: &mut Rng) -> String {
    if rng.chance(0.08) {
        return rng.pick(ESTATE_WHOLE).to_string();
    }
    let stem = rng.pick(ESTATE_STEMS);
    let suffix = *weighted(rng, &[("花园", 35), ("小区", 30), ("新村", 15), ("苑", 10), ("公寓", 10)]);
    // Avoid doubled characters such as 翠苑苑.
    if stem.ends_with(suffix) {
        return format!("{stem}小区");
    }
    format!("{stem}{suffix}")
}

// ---------------------------------------------------------------------------
// Area tree
// ---------------------------------------------------------------------------

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

type Street = (&'static str, &'static str, &'static str, &'static [(&'static str, &'static str)]);

/// County-level divisions from jiangmen.json: (code suffix, name, kind, ID region code, streets).
/// Each street: (code suffix, name, kind, listed communities/villages as (code suffix, name)).
const DIVISIONS: &[(&str, &str, &str, &str, &[Street])] = &[
    ("PJ", "蓬江区", "district", "440703", &[
        ("BS", "白沙街道", "street", &[]), ("HS", "环市街道", "street", &[]),
        ("CL", "潮连街道", "street", &[]), ("DZ", "杜阮镇", "town", &[]),
    ]),
    ("JH", "江海区", "district", "440704", &[
        ("JN", "江南街道", "street", &[("XZ", "新中社区")]),
        ("WS", "外海街道", "street", &[]), ("LX", "礼乐街道", "street", &[]),
    ]),
    ("XH", "新会区", "district", "440705", &[
        ("HC", "会城街道", "street", &[]), ("SS", "双水镇", "town", &[("QM", "桥美村")]),
        ("DA", "大鳌镇", "town", &[]), ("GJ", "古井镇", "town", &[("LB", "岭北村")]),
    ]),
    ("TS", "台山市", "county_city", "440781", &[("TC", "台城街道", "street", &[])]),
    ("KP", "开平市", "county_city", "440783", &[("CC", "长沙街道", "street", &[])]),
    ("HS", "鹤山市", "county_city", "440784", &[("SX", "沙坪街道", "street", &[])]),
    ("EP", "恩平市", "county_city", "440785", &[("EC", "恩城街道", "street", &[])]),
];

/// Urban community stems with pinyin initials, split at runtime.
const COMMUNITY_STEMS: &str = "东湖DH 北郊BJ 西华XH 富华FH 建设JS 跃进YJ 滨江BJ 金华JH 紫茶ZC 联和LH 水南SN \
光明GM 丰雅FY 永盛YS 竹园ZY 莲塘LT 江边JB 华侨HQ 甘化GH 五福WF 仓后CH 港口GK 胜利SL 育德YD 启明QM \
农林NL 群星QX 长堤CD 良化LH 天沙TS 城南CN 城西CX 东华DH 堤东DD 篁庄HZ 白石BS 江华JH 新民XM 龙溪LX 丽苑LY";

/// Rural village stems with pinyin initials, split at runtime.
const VILLAGE_STEMS: &str = "龙湾LW 石头ST 大岗DG 坑口KK 沙堤SD 塘边TB 南坑NK 上村SC 下洞XD 石咀SZ 井根JG \
水口SK 大塘DT 良溪LX 田边TB 冈头GT 黄冲HC 禾岗HG 莲子LZ 马山MS 茶坑CK 横江HJ 荻海DH 赤坎CK 三江SJ \
小冈XG 长安CA 梅阁MG 潭江TJ 塘美TM";

fn parse_stems(s: &str) -> Vec<(&str, &str)> {
    s.split_whitespace()
        .map(|tok| {
            let split = tok.find(|c: char| c.is_ascii()).unwrap_or(tok.len());
            tok.split_at(split)
        })
        .collect()
}

fn area(code: String, name: &str, kind: &'static str, parent: Option<&str>) -> AreaSeed {
    AreaSeed { code, name: name.to_string(), kind, parent_code: parent.map(str::to_string) }
}

/// The Jiangmen demo tree: the city (`JM`), its seven county-level divisions, every
/// street/town of jiangmen.json, the communities/villages listed there topped up with
/// generated ones to `communities_per_street` per street/town, and `grids_per_community`
/// grids under each community/village. Codes are unique; parents come before children.
pub fn demo_areas(grids_per_community: usize, communities_per_street: usize) -> Vec<AreaSeed> {
    let mut out = vec![area("JM".into(), "江门市", "city", None)];
    for &(dcode, dname, dkind, _, streets) in DIVISIONS {
        let dcode = format!("JM-{dcode}");
        out.push(area(dcode.clone(), dname, dkind, Some("JM")));
        for &(scode, sname, skind, listed) in streets {
            let scode_full = format!("{dcode}-{scode}");
            out.push(area(scode_full.clone(), sname, skind, Some(&dcode)));
            let (suffix, kind, stems) = if skind == "town" {
                ("村", "village", VILLAGE_STEMS)
            } else {
                ("社区", "community", COMMUNITY_STEMS)
            };
            let mut comms: Vec<(String, String)> =
                listed.iter().map(|(c, n)| (c.to_string(), n.to_string())).collect();
            let stems = parse_stems(stems);
            let mut order: Vec<usize> = (0..stems.len()).collect();
            let mut rng = Rng::new(fnv1a(&scode_full));
            for i in (1..order.len()).rev() {
                order.swap(i, rng.index(i + 1));
            }
            let mut k = 0;
            while comms.len() < communities_per_street {
                let (stem, abbr) = stems[order[k % stems.len()]];
                let round = k / stems.len();
                k += 1;
                let variant = match round {
                    0 => String::new(),
                    1..=6 => "新东西南北中".chars().nth(round - 1).map(String::from).unwrap_or_default(),
                    _ => round.to_string(),
                };
                let name = format!("{stem}{variant}{suffix}");
                if comms.iter().any(|(_, n)| *n == name) {
                    continue;
                }
                let mut code = abbr.to_string();
                let mut n = 2;
                while comms.iter().any(|(c, _)| *c == code) {
                    code = format!("{abbr}{n}");
                    n += 1;
                }
                comms.push((code, name));
            }
            for (ccode, cname) in comms {
                let ccode = format!("{scode_full}-{ccode}");
                out.push(area(ccode.clone(), &cname, kind, Some(&scode_full)));
                for g in 1..=grids_per_community {
                    let name = format!("{cname}第{g}网格");
                    out.push(area(format!("{ccode}-G{g:02}"), &name, "grid", Some(&ccode)));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Buildings, households, residents
// ---------------------------------------------------------------------------

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

/// Splits `江门市江海区江南街道新中社区` into the address prefix `江海区江南街道`.
fn address_prefix(area_path: &str) -> String {
    let rest = area_path.strip_prefix("江门市").unwrap_or(area_path);
    let Some(d_end) = rest.char_indices().find(|(_, c)| *c == '区' || *c == '市').map(|(i, c)| i + c.len_utf8())
    else {
        return rest.to_string();
    };
    let (district, tail) = rest.split_at(d_end);
    let s_end = tail.find("街道").map(|i| i + "街道".len()).or_else(|| tail.find('镇').map(|i| i + '镇'.len_utf8()));
    match s_end {
        Some(e) => format!("{district}{}", &tail[..e]),
        None => district.to_string(),
    }
}

/// `n` buildings in one grid, grouped into estates of 3-12 buildings, each estate on a road.
/// `grid_area_path` is the full area path, e.g. `江门市江海区江南街道新中社区`.
pub fn demo_buildings(rng: &mut Rng, grid_code: &str, grid_area_path: &str, n: usize) -> Vec<BuildingSeed> {
    let prefix = address_prefix(grid_area_path);
    let mut out = Vec::with_capacity(n);
    let mut used: Vec<String> = Vec::new();
    while out.len() < n {
        let base = estate_name(rng);
        let phase = used.iter().filter(|u| **u == base).count();
        used.push(base.clone());
        let estate = match phase {
            0 => base,
            1..=8 => format!("{base}{}期", "二三四五六七八九".chars().nth(phase - 1).unwrap_or('二')),
            _ => format!("{base}{}期", phase + 1),
        };
        let road = road_name(rng);
        let number = rng.between(1, 300);
        let (fmin, fmax, umin, umax) = if estate.contains("新村") {
            (5, 8, 2, 3)
        } else if estate.contains("公寓") {
            (12, 30, 4, 8)
        } else {
            (6, 33, 2, 6)
        };
        let size = (n - out.len()).min(rng.between(3, 12) as usize);
        for b in 1..=size {
            let name = format!("{estate}{b}栋");
            out.push(BuildingSeed {
                grid_code: grid_code.to_string(),
                address: format!("{prefix}{road}{number}号{name}"),
                name,
                floors: rng.between(fmin, fmax),
                units: rng.between(umin, umax),
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
    /// Care tag codes from jiangmen.json, usually empty.
    pub care_tags: Vec<&'static str>,
    /// Worker notes, usually empty.
    pub notes: String,
}

const NOTES: &[&str] = &[
    "户主常年在外务工，由亲属代为联系",
    "子女在香港工作，逢年过节回来",
    "家中养犬，走访前请先电话联系",
    "夜班工作，宜下午走访",
    "老人只讲台山话，需家属翻译",
    "长期居住海外，房屋托亲戚照看",
    "已登记家庭医生签约服务",
];

/// Picks `n` distinct room numbers (sorted) for a building; when `n` exceeds
/// `floors * units` the extra rooms continue on notional floors above the top.
fn pick_rooms(rng: &mut Rng, floors: u32, units: u32, n: usize) -> Vec<String> {
    let units = units.max(1) as u64;
    let capacity = u64::from(floors.max(1)) * units;
    let slots: Vec<u64> = if (n as u64) <= capacity {
        // Floyd's sampling of n distinct slots out of capacity.
        let mut set = BTreeSet::new();
        for j in capacity - n as u64..capacity {
            let t = rng.below(j + 1);
            if !set.insert(t) {
                set.insert(j);
            }
        }
        set.into_iter().collect()
    } else {
        (0..n as u64).collect()
    };
    let width = units.to_string().len().max(2);
    slots.into_iter().map(|s| format!("{}{:0width$}", s / units + 1, s % units + 1)).collect()
}

/// `n` households in `building`, with unique rooms, mostly-empty care tags and notes.
pub fn demo_households(rng: &mut Rng, building: &BuildingSeed, n: usize) -> Vec<HouseholdSeed> {
    let overseas_hub = ["台山市", "开平市", "恩平市"].iter().any(|p| building.address.starts_with(p));
    let overseas_p = if overseas_hub { 0.2 } else { 0.08 };
    pick_rooms(rng, building.floors, building.units, n)
        .into_iter()
        .map(|room| {
            let mut tags = Vec::new();
            let alone = rng.chance(0.04);
            let mut tag = |cond: bool, code: &'static str| {
                if cond {
                    tags.push(code);
                }
            };
            tag(alone, "elderly_alone");
            tag(rng.chance(0.05), "elderly_80plus");
            tag(rng.chance(0.025), "disabled");
            tag(rng.chance(0.02), "low_income");
            let left_behind = !alone && rng.chance(0.015);
            tag(left_behind, "left_behind_child");
            tag(rng.chance(0.02), "veteran");
            tag(rng.chance(0.015), "serious_illness");
            let rental = !alone && rng.chance(0.10);
            tag(rental, "rental");
            tag(rng.chance(if rental { 0.5 } else { 0.01 }), "floating_population");
            tag(!rental && rng.chance(overseas_p), "overseas_chinese_family");
            let mut member_count = *weighted(rng, &[(1u32, 12), (2, 30), (3, 27), (4, 18), (5, 9), (6, 4)]);
            if alone {
                member_count = 1;
            } else if left_behind {
                member_count = member_count.max(3);
            }
            let phone = if rng.chance(0.85) { mobile_phone(rng) } else { landline(rng) };
            let notes = if rng.chance(0.06) { rng.pick(NOTES).to_string() } else { String::new() };
            HouseholdSeed {
                address: format!("{}{room}房", building.address),
                room,
                head_name: person_name(rng),
                phone,
                member_count,
                care_tags: tags,
                notes,
            }
        })
        .collect()
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

/// `household.member_count` residents; the first is the head (户主) named `head_name`.
/// Children and grandchildren carry the head's surname; ages fit each relation.
pub fn demo_residents(rng: &mut Rng, household: &HouseholdSeed) -> Vec<ResidentSeed> {
    let has = |t: &str| household.care_tags.contains(&t);
    let floating = has("floating_population");
    let local = DIVISIONS
        .iter()
        .find(|d| household.address.starts_with(d.1))
        .map_or_else(|| rng.pick(DIVISIONS).3, |d| d.3);
    let left_behind = has("left_behind_child");
    let (lo, hi) = if has("elderly_80plus") {
        (80, 98)
    } else if has("elderly_alone") {
        (65, 90)
    } else if left_behind {
        (55, 72)
    } else {
        *weighted(rng, &[((22u32, 35u32), 25), ((36, 50), 35), ((51, 65), 25), ((66, 85), 15)])
    };
    let head_age = rng.between(lo, hi);

    // Decide the relation of every member after the head.
    let mut rels: Vec<&'static str> = vec!["户主"];
    let m = household.member_count.max(1) as usize;
    if m > 1 && rng.chance(0.85) {
        rels.push("配偶");
    }
    let elderly_head = head_age >= 58;
    let plan: &[(&'static str, usize)] = if left_behind {
        &[("孙子女", 3)]
    } else if elderly_head {
        &[("子女", 2), ("孙子女", 3)]
    } else {
        &[("子女", 3), ("父母", 2)]
    };
    for &(rel, cap) in plan {
        for _ in 0..cap {
            if rels.len() < m {
                rels.push(rel);
            }
        }
    }
    rels.resize(m, "其他");

    let head_surname = surname_of(&household.head_name).to_string();
    let head_male = rng.chance(0.65);
    let mut parents_seen = 0;
    rels.into_iter()
        .map(|rel| {
            let a = head_age as i64;
            let (age, male, name) = match rel {
                "户主" => (a, head_male, household.head_name.clone()),
                "配偶" => ((a + rng.range_i64(-5, 5)).max(20), !head_male, person_name(rng)),
                "子女" => {
                    let gap = if elderly_head { rng.range_i64(24, 36) } else { rng.range_i64(22, 36) };
                    (a - gap, rng.chance(0.5), format!("{head_surname}{}", given_name(rng)))
                }
                "孙子女" => {
                    let age = if left_behind { rng.range_i64(3, 15) } else { a - rng.range_i64(48, 62) };
                    (age, rng.chance(0.5), format!("{head_surname}{}", given_name(rng)))
                }
                "父母" => {
                    parents_seen += 1;
                    let father = parents_seen == 1;
                    let name = if father && head_male {
                        format!("{head_surname}{}", given_name(rng))
                    } else {
                        person_name(rng)
                    };
                    ((a + rng.range_i64(22, 34)).min(100), father, name)
                }
                _ => (rng.range_i64(18, 70), rng.chance(0.5), person_name(rng)),
            };
            let age = age.clamp(0, 100) as u32;
            let date = random_date(rng, REF_YEAR - age as u16);
            let region = if floating {
                rng.pick(OTHER_REGIONS)
            } else if rng.chance(0.85) {
                local
            } else if rng.chance(0.6) {
                rng.pick(DIVISIONS).3
            } else {
                rng.pick(OTHER_REGIONS)
            };
            let phone = if rel == "户主" && household.phone.starts_with('1') {
                Some(household.phone.clone())
            } else {
                let p = match age {
                    0..=15 => 0.03,
                    16..=74 => 0.85,
                    _ => 0.3,
                };
                (rel == "户主" || rng.chance(p)).then(|| mobile_phone(rng))
            };
            ResidentSeed {
                name,
                id_number: make_id(rng, region, date, male),
                phone,
                birth_date: format!("{:04}-{:02}-{:02}", date.0, date.1, date.2),
                relation: rel,
            }
        })
        .collect()
}

/// `n` households spread over buildings of 40-60 households each, in a handful of
/// grids of the demo tree, so roads, estates and address prefixes repeat as in a real city.
/// Meant for benchmarks; deterministic in `seed`.
pub fn households_flat(seed: u64, n: usize) -> Vec<(BuildingSeed, Vec<HouseholdSeed>)> {
    let mut rng = Rng::new(seed);
    let areas = demo_areas(2, 2);
    let by_code: HashMap<&str, &AreaSeed> = areas.iter().map(|a| (a.code.as_str(), a)).collect();
    let grids: Vec<&AreaSeed> = areas.iter().filter(|a| a.kind == "grid").collect();
    let picked: Vec<&AreaSeed> = (0..8).map(|k| grids[k * grids.len() / 8]).collect();
    let mut sizes = Vec::new();
    let mut left = n;
    while left > 0 {
        let s = (rng.between(40, 60) as usize).min(left);
        sizes.push(s);
        left -= s;
    }
    let mut out = Vec::with_capacity(sizes.len());
    for (g, grid) in picked.iter().enumerate() {
        let my_sizes: Vec<usize> = sizes.iter().skip(g).step_by(picked.len()).copied().collect();
        // The grid's path: every ancestor's name from the city down, without the grid itself.
        let mut names = Vec::new();
        let mut cur = grid.parent_code.as_deref();
        while let Some(code) = cur {
            let a = by_code[code];
            names.push(a.name.as_str());
            cur = a.parent_code.as_deref();
        }
        names.reverse();
        let path = names.concat();
        for (mut b, size) in demo_buildings(&mut rng, &grid.code, &path, my_sizes.len()).into_iter().zip(my_sizes) {
            let size = size as u32;
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

// ---------------------------------------------------------------------------
// Incidents
// ---------------------------------------------------------------------------

/// Templates per category, separated by `|`; `{b}` building, `{f}` floor, `{r}` road, `{e}` estate.
fn incident_templates(category_code: &str) -> &'static str {
    match category_code {
        "dispute" => "邻里因{f}楼漏水问题发生纠纷|{b}住户与楼上住户因噪音问题多次争吵|业主与物业因物业费收取标准产生矛盾\
|租户与房东因押金退还问题发生争执|兄弟之间因老屋宅基地分割产生纠纷|两户村民因排水沟占用发生争执|小区车位被长期占用，车主之间发生口角",
        "safety_hazard" => "{b}外墙瓷砖松动脱落，存在高空坠物隐患|{r}路边井盖缺失，夜间行人易踩空|{b}楼顶私拉电线，线路老化裸露\
|工地围挡倾斜，紧靠人行道|{e}电梯运行异响，近期多次困人|河边护栏损坏，常有儿童在附近玩耍",
        "fire_hazard" => "楼道堆放杂物，堵塞消防通道|{b}一楼楼道内有电动车充电，存在火灾隐患|{b}消防栓无水，灭火器已过期\
|出租屋内私拉电线给电动车充电|{e}消防车道被车辆长期占用|{r}沿街商铺“三合一”场所有人住宿",
        "environment" => "{r}垃圾桶满溢，未及时清运，气味较大|{b}楼下化粪池堵塞外溢|小区内有居民饲养家禽，影响环境卫生\
|河涌水面漂浮垃圾，水体发黑发臭|{r}沿街餐饮店油烟扰民|建筑垃圾随意倾倒在{r}绿化带",
        "public_facility" => "{b}楼下路灯不亮|{r}人行道地砖破损，雨天积水|小区健身器材损坏，存在安全隐患\
|{r}公交站候车亭顶棚破损|{r}路口红绿灯故障，交通拥堵|{e}门口排水渠堵塞",
        "illegal_building" => "{b}楼顶加建铁皮房|{b}一楼住户擅自扩建围墙占用公共绿地|村民在宅基地外违规加建\
|{r}沿街商铺私自搭建雨棚占用人行道|{b}{f}楼住户阳台外扩，疑似拆改承重墙",
        "public_order" => "{r}夜间有人聚集喝酒喧哗|小区内发现可疑人员挨家挨户推销|{b}楼道张贴小广告，疑似涉及非法借贷\
|{e}多辆电动车电瓶被盗|{b}出租屋人员进出频繁，疑似群租",
        "resident_request" => "独居老人申请上门助餐服务|居民咨询城乡居民医保缴费办法|{b}住户申请加装电梯，需协调各楼层意见\
|居民反映{b}二次供水水压不足|居民申请开具居住证明|残疾人家属咨询两项补贴申请流程|侨眷咨询海外亲属回乡办事手续",
        "flood_weather" => "台风来临前{b}楼顶广告牌固定不牢|{r}低洼路段积水约30厘米，车辆无法通行|暴雨导致{e}地下车库进水\
|山边住户屋后边坡有滑坡迹象，需转移|堤围出现渗水，需派人巡查|大树被风吹倒，压住{r}部分车道",
        _ => "{b}信报箱损坏，住户信件丢失|流浪犬在小区内出没，居民担心被咬|{r}共享单车乱停放，影响通行\
|{b}楼道声控灯损坏需更换|居民反映{e}手机信号差",
    }
}

/// A short realistic incident description for a category code from jiangmen.json
/// (`dispute`, `safety_hazard`, `fire_hazard`, …); unknown codes are treated as `other`.
pub fn incident_description(rng: &mut Rng, category_code: &str) -> String {
    let templates: Vec<&str> = incident_templates(category_code).split('|').collect();
    let mut text = rng.pick(&templates).to_string();
    if text.contains("{b}") {
        text = text.replace("{b}", &format!("{}栋", rng.between(1, 20)));
    }
    if text.contains("{f}") {
        text = text.replace("{f}", &rng.between(2, 18).to_string());
    }
    if text.contains("{r}") {
        text = text.replace("{r}", &road_name(rng));
    }
    if text.contains("{e}") {
        text = text.replace("{e}", &estate_name(rng));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Independent ID check: weight of position i is 2^(17-i) mod 11, remainder r maps to (12 - r) mod 11.
    fn id_valid(id: &str) -> bool {
        let b = id.as_bytes();
        if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
            return false;
        }
        let sum: u64 = (0..17).map(|i| u64::from(b[i] - b'0') * ((1u64 << (17 - i)) % 11)).sum();
        let v = (12 - sum % 11) % 11;
        let expected = if v == 10 { b'X' } else { b'0' + v as u8 };
        let (y, m, d) = (id[6..10].parse::<u16>().unwrap(), id[10..12].parse::<u8>().unwrap(), id[12..14].parse::<u8>().unwrap());
        b[17] == expected && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
    }

    #[test]
    fn same_seed_same_output() {
        let run = |seed| {
            let mut r = Rng::new(seed);
            let v: Vec<String> = (0..50).map(|_| format!("{}{}{}", person_name(&mut r), resident_id(&mut r, (1950, 2000)), incident_description(&mut r, "dispute"))).collect();
            (v, households_flat(seed, 500))
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7).0, run(8).0);
        assert_eq!(demo_areas(3, 4), demo_areas(3, 4));
    }

    #[test]
    fn rng_bounds() {
        let mut r = Rng::new(1);
        for _ in 0..10_000 {
            assert!(r.below(7) < 7);
            assert!((-3..=3).contains(&r.range_i64(-3, 3)));
            assert!((0.0..1.0).contains(&r.f64()));
        }
        assert_eq!(r.range_i64(5, 5), 5);
        r.range_i64(i64::MIN, i64::MAX); // full span must not overflow
    }

    #[test]
    fn id_numbers_are_valid() {
        let mut r = Rng::new(3);
        for _ in 0..5_000 {
            let id = resident_id(&mut r, (1930, 2020));
            assert!(id_valid(&id), "{id}");
            assert!(DIVISIONS.iter().any(|d| id.starts_with(d.3)));
            assert!((1930..=2020).contains(&id[6..10].parse::<u16>().unwrap()));
        }
        assert_eq!(id_check_char("11010519491231002"), 'X'); // the published GB 11643 example
    }

    #[test]
    fn phones_have_valid_shapes() {
        let mut r = Rng::new(4);
        for _ in 0..5_000 {
            let m = mobile_phone(&mut r);
            assert!(m.len() == 11 && m.bytes().all(|b| b.is_ascii_digit()));
            assert!(MOBILE_PREFIXES.contains(&m[..3].parse().unwrap()));
            let l = landline(&mut r);
            assert!(l.len() == 12 && l.starts_with("0750-") && l[5..].bytes().all(|b| b.is_ascii_digit()));
            assert!((b'3'..=b'6').contains(&l.as_bytes()[5]));
        }
    }

    #[test]
    fn names_are_mostly_two_chars() {
        for s in [GIVEN, "东西南北中一二三", "新东西南北中", "二三四五六七八九"] {
            assert!(s.chars().all(|c| c.len_utf8() == 3));
        }
        let mut r = Rng::new(5);
        let two = (0..10_000).filter(|_| person_name(&mut r).chars().count() == 2).count();
        assert!((5_500..=8_500).contains(&two), "{two}");
        assert_eq!(surname_of("司徒明"), "司徒");
        assert_eq!(surname_of("陈伟"), "陈");
    }

    #[test]
    fn area_tree_is_well_formed() {
        let areas = demo_areas(2, 2);
        assert!(areas.iter().filter(|a| a.kind == "grid").count() >= 20);
        let mut seen = HashSet::new();
        for a in &areas {
            if let Some(p) = &a.parent_code {
                assert!(seen.contains(p.as_str()), "{} before parent", a.code);
            } else {
                assert_eq!(a.code, "JM");
            }
            assert!(seen.insert(a.code.as_str()), "duplicate {}", a.code);
        }
        assert!(areas.iter().any(|a| a.code == "JM-JH-JN-XZ-G02" && a.name == "新中社区第2网格"));
        assert!(areas.iter().any(|a| a.code == "JM-XH-GJ-LB" && a.kind == "village"));
        let big = demo_areas(1, 100);
        assert_eq!(big.iter().filter(|a| a.kind == "community" || a.kind == "village").count(), 15 * 100);
        assert_eq!(big.iter().map(|a| &a.code).collect::<HashSet<_>>().len(), big.len());
    }

    #[test]
    fn buildings_households_residents() {
        let mut r = Rng::new(6);
        let bs = demo_buildings(&mut r, "JM-JH-JN-XZ-G03", "江门市江海区江南街道新中社区", 30);
        assert_eq!(bs.len(), 30);
        for b in &bs {
            assert!(b.address.starts_with("江海区江南街道") && b.address.ends_with(&b.name), "{}", b.address);
            let hs = demo_households(&mut r, b, 40);
            assert_eq!(hs.iter().map(|h| &h.room).collect::<HashSet<_>>().len(), 40);
            for h in &hs {
                assert!((1..=6).contains(&h.member_count));
                let rs = demo_residents(&mut r, h);
                assert_eq!(rs.len(), h.member_count as usize);
                assert_eq!((rs[0].name.as_str(), rs[0].relation), (h.head_name.as_str(), "户主"));
                for p in &rs {
                    assert!(id_valid(&p.id_number));
                    assert_eq!(p.birth_date.replace('-', ""), p.id_number[6..14]);
                    if p.relation == "子女" || p.relation == "孙子女" {
                        assert!(p.name.starts_with(surname_of(&h.head_name)));
                    }
                }
            }
        }
        assert_eq!(address_prefix("江门市台山市台城街道某社区"), "台山市台城街道");
        assert_eq!(address_prefix("江门市新会区古井镇岭北村"), "新会区古井镇");
    }

    #[test]
    fn households_flat_scale() {
        let start = std::time::Instant::now();
        let all = households_flat(1, 100_000);
        assert_eq!(all.iter().map(|(_, h)| h.len()).sum::<usize>(), 100_000);
        for (b, hs) in &all {
            assert_eq!(hs.iter().map(|h| &h.room).collect::<HashSet<_>>().len(), hs.len());
            assert!(hs.len() <= 60 && b.floors * b.units >= hs.len() as u32);
        }
        let tagged = all.iter().flat_map(|(_, h)| h).filter(|h| !h.care_tags.is_empty()).count();
        assert!(tagged < 50_000, "{tagged}");
        eprintln!("households_flat(1, 100_000): {} buildings in {:?}", all.len(), start.elapsed());
        assert!(households_flat(2, 0).is_empty());
    }

    #[test]
    fn incident_descriptions() {
        let mut r = Rng::new(9);
        for c in ["dispute", "safety_hazard", "fire_hazard", "environment", "public_facility", "illegal_building", "public_order", "resident_request", "flood_weather", "other", "unknown"] {
            for _ in 0..50 {
                let d = incident_description(&mut r, c);
                assert!(!d.is_empty() && !d.contains('{'), "{d}");
            }
        }
    }
}
