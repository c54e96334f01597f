//! Input checks shared by the domain modules: each returns the cleaned value or an
//! [`Error::Invalid`] naming the field; none echoes the value.

use crate::error::{Error, Result};
use crate::validate;

/// A required text: trimmed, not blank, at most `max` characters.
pub(crate) fn text(field: &str, s: &str, max: usize) -> Result<String> {
    let t = s.trim();
    validate::non_blank(t, max).map_err(|r| Error::invalid(field, format!("{r}（最多{max}个字符）")))?;
    Ok(t.to_owned())
}

/// An optional free text: trimmed, may be empty, at most `max` characters.
pub(crate) fn free_text(field: &str, s: &str, max: usize) -> Result<String> {
    let t = s.trim();
    if t.chars().count() > max {
        return Err(Error::invalid(field, format!("内容过长（最多{max}个字符）")));
    }
    Ok(t.to_owned())
}

/// An optional phone: blank means none; otherwise validated and normalised.
pub(crate) fn phone(field: &str, s: Option<&str>) -> Result<Option<String>> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(p) => {
            validate::phone(p).map_err(|r| Error::invalid(field, r))?;
            Ok(Some(validate::normalize_phone(p)))
        }
    }
}

/// An optional resident ID number: blank means none; otherwise validated and normalised.
pub(crate) fn resident_id(field: &str, s: Option<&str>) -> Result<Option<String>> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(p) => {
            validate::resident_id(p).map_err(|r| Error::invalid(field, r))?;
            Ok(Some(validate::normalize_resident_id(p)))
        }
    }
}

/// An optional `YYYY-MM-DD` date.
pub(crate) fn date(field: &str, s: Option<&str>) -> Result<Option<String>> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) => {
            validate::date_ymd(d).map_err(|r| Error::invalid(field, r))?;
            Ok(Some(d.to_owned()))
        }
    }
}

/// A list of tag codes: each known, no duplicates (order kept).
pub(crate) fn tags(field: &str, tags: &[String], known: &[(&str, &str)]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for t in tags {
        let t = t.trim();
        if !known.iter().any(|(code, _)| *code == t) {
            return Err(Error::invalid(field, "包含未知的标签"));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

/// A latitude/longitude pair: both or neither, each within range.
pub(crate) fn location(lat: Option<f64>, lng: Option<f64>) -> Result<()> {
    match (lat, lng) {
        (None, None) => Ok(()),
        (Some(a), Some(o)) => {
            if !(-90.0..=90.0).contains(&a) || !a.is_finite() {
                return Err(Error::invalid("lat", "纬度应在 -90 到 90 之间"));
            }
            if !(-180.0..=180.0).contains(&o) || !o.is_finite() {
                return Err(Error::invalid("lng", "经度应在 -180 到 180 之间"));
            }
            Ok(())
        }
        (None, Some(_)) => Err(Error::invalid("lat", "缺少纬度")),
        (Some(_), None) => Err(Error::invalid("lng", "缺少经度")),
    }
}

/// Household care tags (关爱标签): the project's defaults.
pub const CARE_TAGS: &[(&str, &str)] = &[
    ("elderly_alone", "独居老人"),
    ("elderly_80plus", "高龄老人"),
    ("disabled", "残疾人"),
    ("low_income", "低保户"),
    ("left_behind_child", "留守儿童"),
    ("veteran", "退役军人"),
    ("serious_illness", "重病患者"),
    ("rental", "出租屋"),
    ("floating_population", "流动人口"),
    ("overseas_chinese_family", "侨眷"),
];
