//! Field validators for user input: resident ID numbers, phone numbers,
//! required text and dates. Errors are short Simplified Chinese messages
//! that say what is wrong and never echo the value (it may be personal data).

/// Weights of the first 17 digits in the ISO 7064 MOD 11-2 check (GB 11643-1999).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each weighted sum modulo 11.
const ID_CHECK: &[u8; 11] = b"10X98765432";
/// Province-level codes (first two digits of the region code).
const PROVINCES: [u8; 36] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91,
];

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Parses a run of ASCII digits; the caller has checked they are digits.
fn digits_value(b: &[u8]) -> u32 {
    b.iter().fold(0, |acc, &d| acc * 10 + u32::from(d - b'0'))
}

fn valid_date(year: u32, month: u32, day: u32) -> bool {
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

/// The check character for the first 17 digits of a resident ID number.
fn id_check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(&d, w)| u32::from(d - b'0') * w)
        .sum();
    ID_CHECK[(sum % 11) as usize]
}

/// Trims whitespace and upper-cases a trailing `x`, the form in which
/// resident ID numbers are stored.
pub fn normalize_resident_id(s: &str) -> String {
    s.trim().to_ascii_uppercase()
}

/// Validates an 18-character PRC resident identity number (GB 11643-1999):
/// 17 digits and a check character (digit or `X`, lowercase accepted), a
/// known province code, a real birth date between 1900-01-01 and
/// 2100-12-31, and the ISO 7064 MOD 11-2 check character. Surrounding
/// whitespace is ignored; store [`normalize_resident_id`]'s output.
pub fn resident_id(s: &str) -> Result<(), &'static str> {
    let s = s.trim();
    if s.chars().count() != 18 {
        return Err("长度应为18位");
    }
    let b = s.as_bytes();
    let body_ok = b[..17].iter().all(u8::is_ascii_digit);
    let last_ok = b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x';
    if b.len() != 18 || !body_ok || !last_ok {
        return Err("只能包含数字和末位X");
    }
    let province = digits_value(&b[..2]) as u8;
    if !PROVINCES.contains(&province) {
        return Err("地区码无效");
    }
    let (year, month, day) = (
        digits_value(&b[6..10]),
        digits_value(&b[10..12]),
        digits_value(&b[12..14]),
    );
    if !(1900..=2100).contains(&year) || !valid_date(year, month, day) {
        return Err("出生日期无效");
    }
    if id_check_char(&b[..17]) != b[17].to_ascii_uppercase() {
        return Err("校验码不正确");
    }
    Ok(())
}

/// The birth date `(year, month, day)` in a resident ID number, or `None`
/// when the number is not valid (see [`resident_id`]).
pub fn resident_id_birth_date(s: &str) -> Option<(u16, u8, u8)> {
    resident_id(s).ok()?;
    let b = s.trim().as_bytes();
    Some((
        digits_value(&b[6..10]) as u16,
        digits_value(&b[10..12]) as u8,
        digits_value(&b[12..14]) as u8,
    ))
}

/// Checks that `s` is not blank and has at most `max_chars` characters
/// (Unicode scalar values, so a Chinese character counts as one).
pub fn non_blank(s: &str, max_chars: usize) -> Result<(), &'static str> {
    if s.trim().is_empty() {
        return Err("不能为空");
    }
    if s.chars().count() > max_chars {
        return Err("内容过长");
    }
    Ok(())
}

/// The calendar date `(year, month, day)` (proleptic Gregorian) of a day count since
/// 1970-01-01: days counted in 400-year eras of 146,097 days, each era's years starting in
/// March so that the leap day falls last.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of the era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of the era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The day count since 1970-01-01 of a calendar date (the inverse of [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC calendar date `(year, month, day)` of a time in milliseconds since 1970.
pub fn ymd_of_ms(ms: i64) -> (i64, u32, u32) {
    civil_from_days(ms.div_euclid(86_400_000))
}

/// Validates a calendar date written exactly as `YYYY-MM-DD` (year 0001-9999).
pub fn date_ymd(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return Err("日期格式应为YYYY-MM-DD");
    }
    let year = digits_value(&b[..4]);
    if year == 0 || !valid_date(year, digits_value(&b[5..7]), digits_value(&b[8..10])) {
        return Err("日期无效");
    }
    Ok(())
}

/// A phone number split into its digits and optional extension.
#[derive(Debug, PartialEq, Eq)]
struct ParsedPhone {
    number: String,
    extension: Option<String>,
}

const PHONE_FORMAT: &str = "电话号码格式不正确";

fn is_sep(c: char) -> bool {
    c == ' ' || c == '-'
}

fn is_mobile(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
}

fn is_extension(d: &str) -> bool {
    (1..=6).contains(&d.len())
}

/// Splits `s` into groups of digits separated by runs of spaces and
/// hyphens; each group remembers whether a hyphen preceded it.
fn digit_groups(s: &str) -> Vec<(bool, &str)> {
    let mut groups = Vec::new();
    let mut rest = s;
    loop {
        let seps = rest.len() - rest.trim_start_matches(is_sep).len();
        let hyphen = rest[..seps].contains('-');
        rest = &rest[seps..];
        if rest.is_empty() {
            return groups;
        }
        let end = rest.find(is_sep).unwrap_or(rest.len());
        groups.push((hyphen, &rest[..end]));
        rest = &rest[end..];
    }
}

/// Parses a landline (`0` + area code, or a bare local number starting
/// 2-9) whose digit groups are `groups`, with an optional extension given
/// by "转" (`ext`) or as a last hyphen-separated group.
fn parse_landline(groups: &[(bool, &str)], ext: Option<&str>) -> Result<ParsedPhone, &'static str> {
    let all: String = groups.iter().map(|g| g.1).collect();
    let area_len = match all.as_bytes() {
        [b'0', b'1' | b'2', ..] => 3,
        [b'0', b'3'..=b'9', ..] => 4,
        [b'2'..=b'9', ..] => 0,
        _ => return Err(PHONE_FORMAT),
    };
    // An area code given as its own group must have the right length.
    if area_len > 0 && groups[0].1.len() < area_len {
        return Err("区号不正确");
    }
    let local_ok = |local: &str| {
        (7..=8).contains(&local.len()) && (b'2'..=b'9').contains(&local.as_bytes()[0])
    };
    let (area, local) = all.split_at(area_len);
    if local_ok(local) {
        return Ok(ParsedPhone {
            number: all.clone(),
            extension: ext.map(str::to_owned),
        });
    }
    // "010-62345678-123": the last hyphen-separated group is an extension.
    if let (None, [.., (true, last)]) = (ext, groups) {
        let head = &local[..local.len().saturating_sub(last.len())];
        if groups.len() >= 2 && is_extension(last) && local_ok(head) {
            return Ok(ParsedPhone {
                number: format!("{area}{head}"),
                extension: Some((*last).to_owned()),
            });
        }
    }
    Err("固定电话号码应为区号加7至8位号码")
}

fn parse_phone(s: &str) -> Result<ParsedPhone, &'static str> {
    let s = s.trim();
    if s.is_empty() {
        return Err("电话号码不能为空");
    }
    let (main, ext) = match s.split_once('转') {
        Some((main, ext)) => {
            let ext = ext.trim();
            if !is_extension(ext) || !ext.bytes().all(|b| b.is_ascii_digit()) {
                return Err("分机号应为1至6位数字");
            }
            (main.trim_end(), Some(ext))
        }
        None => (s, None),
    };
    let (main, plus86) = match main.strip_prefix('+') {
        Some(rest) => match rest.strip_prefix("86") {
            Some(rest) => (rest.trim_start_matches(is_sep), true),
            None => return Err("仅支持中国大陆号码"),
        },
        None => (main, false),
    };
    if !main.chars().all(|c| c.is_ascii_digit() || is_sep(c)) {
        return Err("电话号码含有无效字符");
    }
    let groups = digit_groups(main);
    let digits: String = groups.iter().map(|g| g.1).collect();
    if digits.is_empty() {
        return Err(PHONE_FORMAT);
    }
    let mobile = if is_mobile(&digits) {
        Some(digits.clone())
    } else if digits.len() == 13 && digits.starts_with("86") && is_mobile(&digits[2..]) && !plus86 {
        Some(digits[2..].to_owned())
    } else {
        None
    };
    if let Some(number) = mobile {
        if ext.is_some() {
            return Err("手机号码不能带分机号");
        }
        return Ok(ParsedPhone {
            number,
            extension: None,
        });
    }
    if plus86 || digits.starts_with('1') {
        return Err("手机号码应为1开头的11位数字");
    }
    let service = (digits.len() == 5 && digits.starts_with("95"))
        || (digits.len() == 10 && (digits.starts_with("400") || digits.starts_with("800")));
    if service {
        if ext.is_some() {
            return Err(PHONE_FORMAT);
        }
        return Ok(ParsedPhone {
            number: digits,
            extension: None,
        });
    }
    parse_landline(&groups, ext)
}

/// Validates a phone number: a mainland mobile (11 digits, `1[3-9]…`,
/// optionally prefixed `+86` or `86`); a landline (area code `010`/`02x`,
/// or `0` + 3 digits otherwise, then a 7-8 digit local number starting 2-9)
/// or a bare local number, each with an optional 1-6 digit extension
/// (`-123` or `转123`); or a
/// service number (`95xxx`, `400`/`800` + 7 digits). Spaces and hyphens may
/// separate digit groups.
pub fn phone(s: &str) -> Result<(), &'static str> {
    parse_phone(s).map(|_| ())
}

/// The stored form of a phone number: digits only, without the `+86`/`86`
/// prefix, with an extension kept as `-ext` (e.g. `01062345678-123`).
/// Input that is not a valid number only loses its spaces and hyphens.
pub fn normalize_phone(s: &str) -> String {
    match parse_phone(s) {
        Ok(ParsedPhone {
            number,
            extension: Some(ext),
        }) => format!("{number}-{ext}"),
        Ok(ParsedPhone {
            number,
            extension: None,
        }) => number,
        Err(_) => s
            .chars()
            .filter(|&c| !c.is_whitespace() && c != '-')
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_times_across_eras_leap_days_and_1970() {
        assert_eq!(ymd_of_ms(0), (1970, 1, 1));
        assert_eq!(ymd_of_ms(-1), (1969, 12, 31));
        assert_eq!(ymd_of_ms(-86_400_000), (1969, 12, 31));
        assert_eq!(ymd_of_ms(951_782_400_000), (2000, 2, 29));
        assert_eq!(ymd_of_ms(951_782_400_000 + 86_400_000), (2000, 3, 1));
        assert_eq!(ymd_of_ms(1_740_816_000_000), (2025, 3, 1));
        assert_eq!(ymd_of_ms(4_102_444_800_000 - 1), (2099, 12, 31));
        assert_eq!(ymd_of_ms(4_102_444_800_000), (2100, 1, 1));
        for days in [-719_468, -1, 0, 11_016, 20_513, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    /// Completes 17 digits into a valid ID number, computing the check
    /// character independently of `id_check_char`.
    fn with_check(first17: &str) -> String {
        let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = first17
            .chars()
            .zip(weights)
            .map(|(c, w)| c.to_digit(10).unwrap() * w)
            .sum();
        let check = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize];
        format!("{first17}{check}")
    }

    #[test]
    fn valid_resident_ids() {
        assert_eq!(resident_id("11010519491231002X"), Ok(()));
        assert_eq!(resident_id("11010519491231002x"), Ok(()));
        assert_eq!(resident_id("  11010519491231002X\n"), Ok(()));
        for first17 in [
            "44030419900101001",
            "31011520000229123",
            "65010219000101000",
            "91000021001231999",
            "83000019840615456",
            "51010720240229777",
        ] {
            let id = with_check(first17);
            assert_eq!(resident_id(&id), Ok(()), "{id}");
        }
        // One of them ends in X, one in 0..9, to cover both branches.
        let ids: Vec<String> = (0..40)
            .map(|n| with_check(&format!("440304199001010{n:02}")))
            .collect();
        assert!(ids.iter().any(|id| id.ends_with('X')));
        assert!(ids.iter().all(|id| resident_id(id).is_ok()));
    }

    #[test]
    fn resident_id_check_digit() {
        assert_eq!(resident_id("110105194912310021"), Err("校验码不正确"));
        let good = with_check("44030419900101001");
        let mut wrong = good.clone();
        let last = if good.ends_with('1') { "2" } else { "1" };
        wrong.replace_range(17.., last);
        assert_eq!(resident_id(&wrong), Err("校验码不正确"));
        // A transposition of two body digits changes the check.
        let swapped = "44030419900101010".to_owned() + &good[17..];
        assert_eq!(resident_id(&swapped), Err("校验码不正确"));
    }

    #[test]
    fn resident_id_dates() {
        for first17 in [
            "11010519000229001", // 1900 is not a leap year
            "11010520230229001",
            "11010521000229001", // 2100 is not a leap year
            "11010519901301001", // month 13
            "11010519900001001", // month 0
            "11010519900100001", // day 0
            "11010519900431001", // April 31
            "11010518991231001", // before 1900
            "11010521010101001", // after 2100
        ] {
            assert_eq!(
                resident_id(&with_check(first17)),
                Err("出生日期无效"),
                "{first17}"
            );
        }
        assert!(resident_id(&with_check("11010520000229001")).is_ok());
        assert!(resident_id(&with_check("11010521001231001")).is_ok());
        assert!(resident_id(&with_check("11010519000101001")).is_ok());
    }

    #[test]
    fn resident_id_shape_and_region() {
        assert_eq!(resident_id(""), Err("长度应为18位"));
        assert_eq!(resident_id("11010519491231002"), Err("长度应为18位"));
        assert_eq!(resident_id("11010519491231002X1"), Err("长度应为18位"));
        assert_eq!(resident_id("110105194912310"), Err("长度应为18位"));
        assert_eq!(
            resident_id("1101051949123100XX"),
            Err("只能包含数字和末位X")
        );
        assert_eq!(
            resident_id("A1010519491231002X"),
            Err("只能包含数字和末位X")
        );
        assert_eq!(
            resident_id("11010519491231002Y"),
            Err("只能包含数字和末位X")
        );
        assert_eq!(
            resident_id("1101051949 231002X"),
            Err("只能包含数字和末位X")
        );
        // 18 characters, but not all ASCII.
        assert_eq!(
            resident_id("11010519491231002Ｘ"),
            Err("只能包含数字和末位X")
        );
        for region in [
            "00", "10", "16", "20", "24", "38", "47", "55", "66", "72", "84", "99",
        ] {
            let id = with_check(&format!("{region}010519491231002"));
            assert_eq!(resident_id(&id), Err("地区码无效"), "{region}");
        }
    }

    #[test]
    fn resident_id_helpers() {
        assert_eq!(
            normalize_resident_id(" 11010519491231002x "),
            "11010519491231002X"
        );
        assert_eq!(
            resident_id_birth_date("11010519491231002x"),
            Some((1949, 12, 31))
        );
        assert_eq!(
            resident_id_birth_date(&with_check("31011520000229123")),
            Some((2000, 2, 29))
        );
        assert_eq!(resident_id_birth_date("110105194912310021"), None);
    }

    #[test]
    fn errors_never_echo_the_value() {
        let inputs = [
            "110105194912310021",
            "11010519491331002X",
            "1234",
            "13800138000x",
        ];
        for input in inputs {
            for err in [resident_id(input).err(), phone(input).err()]
                .into_iter()
                .flatten()
            {
                assert!(!err.contains(input));
                let longest_digit_run = err
                    .split(|c: char| !c.is_ascii_digit())
                    .map(str::len)
                    .max()
                    .unwrap_or(0);
                assert!(longest_digit_run <= 2, "{err}");
            }
        }
    }

    #[test]
    fn valid_phones() {
        let cases = [
            ("13800138000", "13800138000"),
            ("199 1234 5678", "19912345678"),
            ("138-0013-8000", "13800138000"),
            ("+8613800138000", "13800138000"),
            ("+86 138 0013 8000", "13800138000"),
            ("+86-13800138000", "13800138000"),
            ("8613800138000", "13800138000"),
            ("86 138 0013 8000", "13800138000"),
            ("010-62345678", "01062345678"),
            ("010 6552 9988", "01065529988"),
            ("01065529988", "01065529988"),
            ("020-8888888", "0208888888"),
            ("0750-3123456", "07503123456"),
            ("0750 31234567", "075031234567"),
            ("075031234567", "075031234567"),
            ("010-62345678-123", "01062345678-123"),
            ("010-62345678-123456", "01062345678-123456"),
            ("010-62345678转8", "01062345678-8"),
            ("010-62345678 转 808", "01062345678-808"),
            ("0750-3123456-12", "07503123456-12"),
            ("22345678", "22345678"),
            ("6552998", "6552998"),
            ("6552-9988", "65529988"),
            ("6552998-21", "6552998-21"),
            ("65529988转21", "65529988-21"),
            ("95588", "95588"),
            ("400-123-4567", "4001234567"),
            ("800 123 4567", "8001234567"),
            ("4001234567", "4001234567"),
            ("  13800138000  ", "13800138000"),
        ];
        for (input, normalized) in cases {
            assert_eq!(phone(input), Ok(()), "{input}");
            assert_eq!(normalize_phone(input), normalized, "{input}");
        }
    }

    #[test]
    fn invalid_phones() {
        for input in [
            "",
            "   ",
            "12800138000",     // 1[0-2] is not a mobile prefix
            "1380013800",      // 10 digits
            "138001380001",    // 12 digits
            "+85213800138000", // not mainland
            "+1 415 555 0100",
            "+86 010 62345678", // +86 only for mobiles here
            "+8601062345678",
            "87 138 0013 8000",
            "138-0013-8000转12", // mobile with extension
            "1380013800a",
            "(010)62345678",
            "010_62345678",
            "010-623456",           // local too short
            "010-623456789",        // local too long
            "010-02345678",         // local starts with 0
            "010-12345678",         // local starts with 1
            "0062345678",           // 00 is the international prefix
            "01-62345678",          // area code group too short
            "010-62345678-1234567", // extension too long
            "010-62345678转",
            "010-62345678转12a",
            "010-62345678 123", // extension needs '-' or 转
            "123456",           // 6-digit local
            "123456789",
            "9558",
            "955888",
            "400-123-456",
            "400-123-4567转1",
            "500-123-4567",
            "-",
            "--13800138000--x",
        ] {
            assert!(phone(input).is_err(), "{input:?} should be rejected");
        }
        assert_eq!(phone(""), Err("电话号码不能为空"));
        assert_eq!(phone("+85213800138000"), Err("仅支持中国大陆号码"));
        assert_eq!(phone("010-62345678转1234567"), Err("分机号应为1至6位数字"));
        assert_eq!(phone("13800138000转1"), Err("手机号码不能带分机号"));
        assert_eq!(phone("1380013800"), Err("手机号码应为1开头的11位数字"));
        assert_eq!(phone("1380013800a"), Err("电话号码含有无效字符"));
        assert_eq!(normalize_phone(" 138 0013-800x "), "1380013800x");
    }

    #[test]
    fn non_blank_counts_chars() {
        assert_eq!(non_blank("", 10), Err("不能为空"));
        assert_eq!(non_blank(" \t\n", 10), Err("不能为空"));
        assert_eq!(non_blank("楼道堆物", 4), Ok(()));
        assert_eq!(non_blank("楼道堆物了", 4), Err("内容过长"));
        assert_eq!(non_blank("abcd", 4), Ok(()));
        assert_eq!(non_blank("abcde", 4), Err("内容过长"));
    }

    #[test]
    fn dates() {
        for ok in [
            "2024-02-29",
            "2000-02-29",
            "1900-02-28",
            "0001-01-01",
            "9999-12-31",
            "2023-04-30",
        ] {
            assert_eq!(date_ymd(ok), Ok(()), "{ok}");
        }
        for bad in [
            "1900-02-29",
            "2023-02-29",
            "2023-13-01",
            "2023-00-10",
            "2023-04-31",
            "2023-01-00",
            "0000-01-01",
        ] {
            assert_eq!(date_ymd(bad), Err("日期无效"), "{bad}");
        }
        for bad in [
            "2023-1-01",
            "2023/01/01",
            "20230101",
            "2023-01-01 ",
            "２０２３-01-01",
            "",
            "abcd-ef-gh",
            "+123-01-01",
        ] {
            assert_eq!(date_ymd(bad), Err("日期格式应为YYYY-MM-DD"), "{bad}");
        }
    }
}
