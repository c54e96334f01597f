//! Deterministic synthetic data for demos, tests and benchmarks.
//!
//! Names, phones, ID numbers, the Jiangmen area tree, buildings, households,
//! residents and incident descriptions, all derived from a `u64` seed through the
//! small [`Rng`] below, so a seed yields the same data on every platform. Every
//! person, phone number and ID number is invented; ID numbers carry a valid check
//! character. This file holds the generator and people (names, phones, ID numbers, roads,
//! estates, incident texts); `city.rs` the area tree, buildings, households and residents.

mod city;

pub use city::*;

/// The year ages are counted from, so output never depends on the wall clock.
const REF_YEAR: u16 = 2024;

/// A small deterministic PRNG: xoshiro256** seeded through SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Creates a generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut splitmix = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [splitmix(), splitmix(), splitmix(), splitmix()],
        }
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Returns a uniform integer in `0..n` without modulo bias. Panics if `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below needs n > 0");
        // Lemire's multiply-and-reject method.
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if m as u64 >= threshold {
                return (m >> 64) as u64;
            }
        }
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
        &items[self.index(items.len())]
    }

    /// Returns a uniform float in `[0, 1)` built from 53 random bits.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    fn between(&mut self, lo: u32, hi: u32) -> u32 {
        self.range_i64(lo.into(), hi.into()) as u32
    }
}

/// Picks an index into `weights` with probability proportional to its weight.
fn weighted_index(rng: &mut Rng, weights: &[u32]) -> usize {
    let mut r = rng.below(weights.iter().map(|w| u64::from(*w)).sum());
    for (i, w) in weights.iter().enumerate() {
        match r.checked_sub(u64::from(*w)) {
            Some(rest) => r = rest,
            None => return i,
        }
    }
    weights.len() - 1
}

/// Picks one word of a space-separated list.
fn pick_word<'a>(rng: &mut Rng, words: &'a str) -> &'a str {
    let words: Vec<&str> = words.split(' ').collect();
    words[rng.index(words.len())]
}

/// Picks one character of a string made only of 3-byte (CJK) characters, in O(1).
fn pick_char(rng: &mut Rng, s: &str) -> char {
    let i = rng.index(s.len() / 3) * 3;
    s[i..].chars().next().unwrap_or('明')
}

/// One-character surnames in tiers of (weight per name, names), tilted toward Jiangmen:
/// 陈 黄 梁 李 lead, and 谭 关 伍 甄 邝 are typical of Taishan and Kaiping.
const SURNAME_TIERS: [(u32, &str); 9] = [
    (95, "陈"),
    (70, "李黄"),
    (55, "梁"),
    (42, "张王刘林"),
    (30, "吴何谭"),
    (20, "周郑关冯余罗杨"),
    (13, "赵伍邓叶谢区"),
    (9, "甄许徐朱胡郭苏卢钟麦邝雷孙马高唐莫蔡潘曾"),
    (5, "宋曹容汤方温彭袁韩吕沈龙"),
];

/// Compound surnames and their weights on the same scale (司徒 is common in Kaiping and Taishan).
const COMPOUND_SURNAMES: [&str; 4] = ["司徒", "欧阳", "上官", "司马"];
const COMPOUND_WEIGHTS: [u32; 4] = [13, 2, 2, 2];

fn surname(rng: &mut Rng) -> &'static str {
    // One bucket per tier, then one for all compound surnames.
    let mut totals: Vec<u32> = SURNAME_TIERS
        .iter()
        .map(|(w, n)| w * n.len() as u32 / 3)
        .collect();
    totals.push(COMPOUND_WEIGHTS.iter().sum());
    match SURNAME_TIERS.get(weighted_index(rng, &totals)) {
        Some((_, names)) => {
            let i = rng.index(names.len() / 3) * 3;
            &names[i..i + 3]
        }
        None => COMPOUND_SURNAMES[weighted_index(rng, &COMPOUND_WEIGHTS)],
    }
}

/// Common given-name characters (each 3 bytes in UTF-8).
const GIVEN: &str = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂兰华建国志红玉梅文斌辉宇浩鹏飞\
鑫波海林燕玲婷雪琳慧晶颖佳欣怡嘉俊宏健峰亮坤荣振凯晨旭阳春冬秋莉萍琴云凤珍彬智德永庆福祥瑞安康宁\
泰和顺发达新民成金铭锦淑贤惠美娴雅诗思梓睿子轩涵博豪然可馨雨彤卓锐晓东昌盛耀光月清泉娇少伦家乐铨\
炳棠汝坚锋柏基添棋祖钊焕权满妹好娣彩嫦笑莲炜";

fn given_name(rng: &mut Rng) -> String {
    let n = if rng.chance(0.7) { 1 } else { 2 };
    (0..n).map(|_| pick_char(rng, GIVEN)).collect()
}

/// The surname of a name made by [`person_name`], compound surnames included.
fn surname_of(name: &str) -> &str {
    let compound = COMPOUND_SURNAMES
        .iter()
        .find(|s| name.starts_with(*s) && name.len() > s.len());
    match compound {
        Some(s) => &name[..s.len()],
        None => name.char_indices().nth(1).map_or(name, |(i, _)| &name[..i]),
    }
}

/// A plausible Chinese personal name: weighted surname + one (70%) or two given characters.
pub fn person_name(rng: &mut Rng) -> String {
    surname(rng).to_string() + &given_name(rng)
}

const MOBILE_PREFIXES: [u16; 37] = [
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
    166, 170, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191, 198, 199,
];

/// An 11-digit mainland mobile number with a valid carrier prefix.
pub fn mobile_phone(rng: &mut Rng) -> String {
    let prefix = rng.pick(&MOBILE_PREFIXES);
    format!("{prefix}{:08}", rng.below(100_000_000))
}

/// A Jiangmen landline: `0750-` followed by 7 digits starting with 3-6.
pub fn landline(rng: &mut Rng) -> String {
    format!("0750-{}{:06}", rng.between(3, 6), rng.below(1_000_000))
}

/// Region codes of people registered outside Jiangmen (migrant workers, in-laws).
const OTHER_REGIONS: &str =
    "450102 430102 360102 510104 420102 441302 440106 445102 441402 440883 452402 431121";

fn days_in_month(year: u16, month: u8) -> u8 {
    match (month, year % 4, year % 100, year % 400) {
        (2, 0, 1.., _) | (2, _, _, 0) => 29,
        (2, ..) => 28,
        (4 | 6 | 9 | 11, ..) => 30,
        _ => 31,
    }
}

fn random_date(rng: &mut Rng, year: u16) -> (u16, u8, u8) {
    let month = rng.between(1, 12) as u8;
    let day = rng.between(1, days_in_month(year, month).into()) as u8;
    (year, month, day)
}

/// The ISO 7064 MOD 11-2 check character for the first 17 digits of an ID number.
fn id_check_char(body: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

fn make_id(rng: &mut Rng, region: &str, (y, m, d): (u16, u8, u8), male: bool) -> String {
    // The sequence's last digit carries the sex: odd for men, even for women.
    let seq = (rng.below(499) + 1) * 2 + u64::from(male);
    let body = format!("{region}{y:04}{m:02}{d:02}{seq:03}");
    let check = id_check_char(&body);
    body + &check.to_string()
}

/// An 18-character PRC resident ID with a Jiangmen region code, a valid birth date in
/// `birth_year_range` (inclusive, either order) and a correct check character.
pub fn resident_id(rng: &mut Rng, birth_year_range: (u16, u16)) -> String {
    let (a, b) = birth_year_range;
    let regions: Vec<(&str, &str)> = jiangmen_regions().collect();
    let region = rng.pick(&regions).1;
    let year = rng.between(a.min(b).into(), a.max(b).into()) as u16;
    let date = random_date(rng, year);
    let male = rng.chance(0.5);
    make_id(rng, region, date, male)
}

const ROAD_STEMS: &str = "建设 港口 胜利 白沙 迎宾 跃进 北新 东华 五邑 中山 人民 解放 江华 群星 发展 \
堤东 长堤 会城 侨乡 龙湾 丰乐 华园 农林 育德 启明 天沙 滨江 甘化 金瓯 五福 东湖 仓后 紫沙 良化 江翠 \
篁庄 西堤 环市 杜阮 新宁 石化 冈州";

/// A plausible road name such as 建设路, 港口二路, 白沙大道 or 仓后巷.
pub fn road_name(rng: &mut Rng) -> String {
    let stem = pick_word(rng, ROAD_STEMS);
    let suffix = ["路", "大道", "街", "巷"][weighted_index(rng, &[60, 12, 18, 10])];
    if suffix == "路" && rng.chance(0.15) {
        return format!("{stem}{}路", pick_char(rng, "东西南北中一二三"));
    }
    format!("{stem}{suffix}")
}

const ESTATE_STEMS: &str = "翠苑 丰乐 华园 东湖 金汇 御景 江海 富华 怡景 骏景 名门 锦绣 海逸 嘉和 凯茵 \
雅居 阳光 帝景 星汇 汇景 侨新 龙湾 康乐 城南 白沙 滨江 紫荆 银湖 景湖 绿岛 水岸 东方 新城 桂园 荷塘 \
逸景 丽都 金山 富康 景江";

/// A plausible residential estate name such as 翠苑小区, 丰乐花园, 华园新村 or 碧桂园.
pub fn estate_name(rng: &mut Rng) -> String {
    if rng.chance(0.08) {
        return pick_word(rng, "碧桂园 华侨新村 丽宫花园 凤凰苑 江门万达公寓 五邑豪庭").into();
    }
    let stem = pick_word(rng, ESTATE_STEMS);
    let suffixes = ["花园", "小区", "新村", "苑", "公寓"];
    match suffixes[weighted_index(rng, &[35, 30, 15, 10, 10])] {
        s if stem.ends_with(s) => format!("{stem}小区"), // no 翠苑苑
        s => format!("{stem}{s}"),
    }
}

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
    let text = rng.pick(&templates).to_string();
    let fills = [
        ("{b}", format!("{}栋", rng.between(1, 20))),
        ("{f}", rng.between(2, 18).to_string()),
        ("{r}", road_name(rng)),
        ("{e}", estate_name(rng)),
    ];
    fills
        .iter()
        .fold(text, |t, (key, value)| t.replace(key, value))
}

#[cfg(test)]
mod tests {
    use super::city::{address_prefix, COMMUNITY_STEMS, NOTES, VILLAGE_STEMS};
    use super::*;
    use std::collections::HashSet;

    /// Independent check: digit i weighs 2^(17-i) mod 11 and the check value is (12 - sum) mod 11.
    fn id_valid(id: &str) -> bool {
        let b = id.as_bytes();
        if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
            return false;
        }
        let sum: u64 = (0..17)
            .map(|i| u64::from(b[i] - b'0') * ((1 << (17 - i)) % 11))
            .sum();
        let v = (12 - sum % 11) % 11;
        let check = if v == 10 { b'X' } else { b'0' + v as u8 };
        let num = |r: std::ops::Range<usize>| id[r].parse::<u16>().unwrap();
        let (y, m, d) = (num(6..10), num(10..12) as u8, num(12..14) as u8);
        b[17] == check && (1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d)
    }

    fn distinct<T: std::hash::Hash + Eq>(items: impl Iterator<Item = T>) -> usize {
        items.collect::<HashSet<T>>().len()
    }

    #[test]
    fn same_seed_same_output_and_rng_bounds() {
        let run = |seed| {
            let mut r = Rng::new(seed);
            let mut v: Vec<String> = (0..50).map(|_| person_name(&mut r)).collect();
            v.extend((0..50).map(|_| resident_id(&mut r, (1950, 2000))));
            v.push(incident_description(&mut r, "dispute"));
            (v, households_flat(seed, 500))
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7).0, run(8).0);
        assert_eq!(demo_areas(3, 4), demo_areas(3, 4));
        let mut r = Rng::new(1);
        for _ in 0..10_000 {
            assert!(r.below(7) < 7 && (-3..=3).contains(&r.range_i64(-3, 3)));
            assert!((0.0..1.0).contains(&r.f64()));
        }
        r.range_i64(i64::MIN, i64::MAX); // the full span must not overflow
    }

    #[test]
    fn ids_and_phones_are_valid() {
        assert_eq!(id_check_char("11010519491231002"), 'X'); // the GB 11643 example
        assert_eq!(
            [2000, 1900, 2024, 2023].map(|y| days_in_month(y, 2)),
            [29, 28, 29, 28]
        );
        let mut r = Rng::new(3);
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        for _ in 0..5_000 {
            let id = resident_id(&mut r, (2020, 1930));
            assert!(id_valid(&id) && (1930..=2020).contains(&id[6..10].parse().unwrap()));
            assert!(jiangmen_regions().any(|(_, code)| id.starts_with(code)));
            let m = mobile_phone(&mut r);
            assert!(m.len() == 11 && digits(&m), "{m}");
            assert!(MOBILE_PREFIXES.contains(&m[..3].parse().unwrap()));
            let l = landline(&mut r);
            assert!(
                l.len() == 12 && l.starts_with("0750-") && digits(&l[5..]),
                "{l}"
            );
            assert!((b'3'..=b'6').contains(&l.as_bytes()[5]));
        }
    }

    #[test]
    fn names_are_mostly_two_chars() {
        assert!(GIVEN.chars().all(|c| c.len_utf8() == 3));
        let lists = [
            ROAD_STEMS,
            ESTATE_STEMS,
            NOTES,
            OTHER_REGIONS,
            COMMUNITY_STEMS,
            VILLAGE_STEMS,
        ];
        assert!(lists.iter().all(|l| l.split(' ').all(|w| !w.is_empty())));
        let abbr_ok = |w: &str| w.len() == 8 && w[6..].bytes().all(|b| b.is_ascii_uppercase());
        assert!([COMMUNITY_STEMS, VILLAGE_STEMS]
            .iter()
            .all(|l| l.split(' ').all(abbr_ok)));
        let mut r = Rng::new(5);
        let two = (0..10_000)
            .filter(|_| person_name(&mut r).chars().count() == 2)
            .count();
        assert!((5_500..=8_500).contains(&two), "{two}");
        assert_eq!((surname_of("司徒明"), surname_of("陈伟")), ("司徒", "陈"));
    }

    #[test]
    fn area_tree_is_well_formed() {
        let areas = demo_areas(2, 2);
        assert!(areas.iter().filter(|a| a.kind == "grid").count() >= 20);
        let mut seen = HashSet::new();
        for a in &areas {
            let parent_first = a.parent_code.as_deref().is_none_or(|p| seen.contains(p));
            assert!(parent_first && seen.insert(a.code.as_str()), "{}", a.code);
        }
        let find = |code| {
            areas
                .iter()
                .find(|a| a.code == code)
                .map(|a| (&*a.name, a.kind))
        };
        assert_eq!(find("JM-JH-JN-XZ-G02"), Some(("新中社区第2网格", "grid")));
        assert_eq!(find("JM-XH-GJ-LB"), Some(("岭北村", "village")));
        assert_eq!(find("JM-TS"), Some(("台山市", "county_city")));
        let big = demo_areas(1, 100);
        let local = |a: &&AreaSeed| a.kind == "community" || a.kind == "village";
        assert_eq!(big.iter().filter(local).count(), 15 * 100);
        assert_eq!(distinct(big.iter().map(|a| &a.code)), big.len());
    }

    #[test]
    fn buildings_households_residents_fit_together() {
        assert_eq!(address_prefix("江门市新会区古井镇岭北村"), "新会区古井镇");
        let mut r = Rng::new(6);
        let path = "江门市江海区江南街道新中社区";
        for b in &demo_buildings(&mut r, "JM-JH-JN-XZ-G03", path, 30) {
            assert!(b.address.starts_with("江海区江南街道") && b.address.ends_with(&b.name));
            let households = demo_households(&mut r, b, 40);
            assert_eq!(distinct(households.iter().map(|h| &h.room)), 40);
            for h in &households {
                let people = demo_residents(&mut r, h);
                assert_eq!(people.len(), h.member_count as usize);
                assert_eq!(
                    (&*people[0].name, people[0].relation),
                    (&*h.head_name, "户主")
                );
                for p in &people {
                    assert!(id_valid(&p.id_number));
                    assert_eq!(p.birth_date.replace('-', ""), p.id_number[6..14]);
                    if p.relation == "子女" || p.relation == "孙子女" {
                        assert!(p.name.starts_with(surname_of(&h.head_name)));
                    }
                }
            }
        }
    }

    #[test]
    fn households_flat_makes_exactly_n() {
        let all = households_flat(1, 100_000);
        assert_eq!(all.iter().map(|(_, h)| h.len()).sum::<usize>(), 100_000);
        for (b, hs) in &all {
            assert_eq!(distinct(hs.iter().map(|h| &h.room)), hs.len());
            assert!(hs.len() <= 60 && b.floors * b.units >= hs.len() as u32);
        }
        let households = all.iter().flat_map(|(_, h)| h);
        assert!(households.filter(|h| !h.care_tags.is_empty()).count() < 50_000);
        assert!(households_flat(2, 0).is_empty());
    }

    #[test]
    fn incident_descriptions_are_filled_in() {
        let mut r = Rng::new(9);
        let codes = "dispute safety_hazard fire_hazard environment public_facility \
            illegal_building public_order resident_request flood_weather other unknown";
        for code in codes.split(' ') {
            for _ in 0..50 {
                let d = incident_description(&mut r, code);
                assert!(!d.is_empty() && !d.contains('{'), "{d}");
            }
        }
    }
}
