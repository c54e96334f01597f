//! Input checks shared by the domain modules: each returns the cleaned value or an
//! [`Error::Invalid`] naming the field; none echoes the value.

use serde_json::Value;

use crate::entities::EntityKind;
use crate::error::{Error, Result};
use crate::record::Fields;
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

/// A household's member count: 1 to 99.
pub(crate) fn member_count(n: i64) -> Result<()> {
    if (1..=99).contains(&n) {
        Ok(())
    } else {
        Err(Error::invalid("member_count", "人数应在1到99之间"))
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

/// Checks GPS fixes: position in range, accuracy a finite distance (metres, at most 100 km:
/// more says nothing of where the worker was), a time after 1970. Errors name the point
/// (`points[3].accuracy_m`). Fix times are not held against the phone's clock: they come from
/// the GPS, and a phone's clock may be far off (DESIGN.md sync rule 4).
pub fn gps_points(points: &[crate::patrols::GpsPoint]) -> Result<()> {
    for (i, p) in points.iter().enumerate() {
        let at = |e: Error| match e {
            Error::Invalid { field, reason } => Error::invalid(format!("points[{i}].{field}"), reason),
            other => other,
        };
        location(Some(p.lat), Some(p.lng)).map_err(at)?;
        if p.accuracy_m.is_some_and(|a| !(0.0..=100_000.0).contains(&a)) {
            return Err(at(Error::invalid("accuracy_m", "精度应在 0 到 100000 米之间")));
        }
        if p.at <= 0 {
            return Err(at(Error::invalid("at", "定位时间无效")));
        }
    }
    Ok(())
}

/// Most photos on one record.
pub const MAX_PHOTOS: usize = 20;

/// Checks a list of photo references: at most [`MAX_PHOTOS`], each a SHA-256 in lowercase hex
/// (photos are stored, uploaded and fetched by that form; another spelling of the same hash
/// would name a photo no device or server holds).
pub fn photo_refs(name: &str, photos: &[&str]) -> Result<()> {
    if photos.len() > MAX_PHOTOS {
        return Err(Error::invalid(name, format!("照片最多{MAX_PHOTOS}张")));
    }
    if !photos.iter().all(|p| crate::attachments::is_sha256_hex(p)) {
        return Err(Error::invalid(name, "照片编号应为64位小写SHA-256十六进制"));
    }
    Ok(())
}

/// The domain rules of single values, checked on fields as they arrive in an op (the server
/// applies them to every pushed create and update, so a value the app would never have
/// accepted — a phone of the wrong shape, an ID number whose check digit is wrong, an unknown
/// tag, a photo reference spelt otherwise — is refused rather than stored): phones, resident
/// ID numbers, dates (and a birth date sent with an ID number must be the one it carries), tag
/// codes, member counts, photo references. Absent and null fields pass; whether a field may be
/// absent is the schema's business.
pub fn check_values(kind: EntityKind, fields: &Fields) -> Result<()> {
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    let tag_list = |name: &str| -> Result<()> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Array(items)) => {
                let codes: Vec<String> = items.iter().map(|t| t.as_str().unwrap_or_default().to_owned()).collect();
                tags(name, &codes, CARE_TAGS).map(drop)
            }
            Some(_) => Err(Error::invalid(name, "应为标签列表")),
        }
    };
    match kind {
        EntityKind::Household => {
            phone("phone", text("phone"))?;
            if let Some(n) = fields.get("member_count").filter(|v| !v.is_null()) {
                // Not an integer: out of range as well.
                member_count(n.as_i64().unwrap_or(0))?;
            }
            tag_list("care_tags")
        }
        EntityKind::Resident => {
            phone("phone", text("phone"))?;
            resident_id("id_number", text("id_number"))?;
            date("birth_date", text("birth_date"))?;
            // Sent together, they must agree (the ID number carries the birth date).
            resident_dates_agree(fields)?;
            tag_list("tags")
        }
        EntityKind::PatrolTrack => match fields.get("points") {
            None | Some(Value::Null) => Ok(()),
            // A list of another shape is refused by the readability check, which names it.
            Some(v) => match serde_json::from_value::<Vec<crate::patrols::GpsPoint>>(v.clone()) {
                Ok(points) => gps_points(&points),
                Err(_) => Ok(()),
            },
        },
        EntityKind::Incident | EntityKind::TaskAssignment => {
            let name = if kind == EntityKind::Incident { "photos" } else { "evidence_photos" };
            match fields.get(name) {
                None | Some(Value::Null) => Ok(()),
                Some(Value::Array(items)) => {
                    let refs: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                    photo_refs(name, &refs.ok_or_else(|| Error::invalid(name, "应为照片编号列表"))?)
                }
                Some(_) => Err(Error::invalid(name, "应为照片编号列表")),
            }
        }
        _ => Ok(()),
    }
}

/// A resident's birth date, as given and as its ID number carries it, is not after today —
/// today where the day begins first (UTC+14), so a child born today is never refused for a
/// time zone. `now_ms` is the writer's clock: the device's on a phone, the server's on a push.
pub fn born_by(fields: &Fields, now_ms: i64) -> Result<()> {
    // Dates as the register writes them (`YYYY-MM-DD`, checked before), compared as text.
    let (y, m, d) = crate::validate::ymd_of_ms(now_ms + 14 * 3_600_000);
    let today = format!("{y:04}-{m:02}-{d:02}");
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    // The ID number first: a birth date taken from it would otherwise be blamed.
    let carried = crate::households::birth_date_with_id(text("id_number"), None).ok().flatten();
    if carried.is_some_and(|b| b > today) {
        return Err(Error::invalid("id_number", "身份证号中的出生日期晚于今天"));
    }
    if text("birth_date").is_some_and(|b| b > today.as_str()) {
        return Err(Error::invalid("birth_date", "出生日期不能晚于今天"));
    }
    Ok(())
}

/// A resident's ID number and birth date, where both are set, must agree: the number carries
/// the date. Checked on an op's own fields, and by the server on a resident as an update
/// leaves it (the stored fields with the op's over them) whenever the op writes either one —
/// a birth date edited on a device that does not see the ID number cannot be checked there.
pub fn resident_dates_agree(fields: &Fields) -> Result<()> {
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    match (text("id_number"), text("birth_date")) {
        (Some(id_number), Some(birth_date)) => {
            crate::households::birth_date_with_id(Some(id_number), Some(birth_date.to_owned())).map(drop)
        }
        _ => Ok(()),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(v: Value) -> Fields {
        v.as_object().cloned().unwrap_or_default()
    }

    fn refused_field(kind: EntityKind, v: Value) -> String {
        match check_values(kind, &fields(v)) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn pushed_values_meet_the_apps_own_rules() {
        // What the app writes passes: mobile and landline phones, an ID ending in X, nulls.
        let household = json!({"phone": "13812345678", "member_count": 3, "care_tags": ["elderly_alone", "rental"]});
        check_values(EntityKind::Household, &fields(household)).unwrap();
        check_values(EntityKind::Household, &fields(json!({"phone": "0750-3125678", "care_tags": []}))).unwrap();
        check_values(EntityKind::Household, &fields(json!({"phone": null, "notes": "任意文字"}))).unwrap();
        let resident = json!({"id_number": "11010519491231002X", "birth_date": "1949-12-31", "phone": null, "tags": []});
        check_values(EntityKind::Resident, &fields(resident)).unwrap();
        check_values(EntityKind::Incident, &fields(json!({"description": "13800"}))).unwrap();
        // What it never writes is refused, naming the field.
        assert_eq!(refused_field(EntityKind::Household, json!({"phone": "1380013800"})), "phone");
        assert_eq!(refused_field(EntityKind::Household, json!({"member_count": 0})), "member_count");
        assert_eq!(refused_field(EntityKind::Household, json!({"care_tags": ["vip"]})), "care_tags");
        assert_eq!(refused_field(EntityKind::Household, json!({"care_tags": "rental"})), "care_tags");
        assert_eq!(refused_field(EntityKind::Resident, json!({"id_number": "110105194912310021"})), "id_number");
        assert_eq!(refused_field(EntityKind::Resident, json!({"birth_date": "1949-13-01"})), "birth_date");
        assert_eq!(refused_field(EntityKind::Resident, json!({"tags": ["unknown"]})), "tags");
        let mismatch = json!({"id_number": "11010519491231002X", "birth_date": "1950-01-01"});
        assert_eq!(refused_field(EntityKind::Resident, mismatch), "birth_date");
    }
}
