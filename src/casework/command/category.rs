//! `!category`: the choices and the current category; `!category 3` or
//! `!category grooming contact` sets it.

use super::{LeadCommand, Written};
use crate::casework::{Casefile, EntryKind, RiskArea, RiskKind};

pub(super) type Category = (Vec<RiskArea>, Vec<RiskKind>);

pub(super) fn parse(rest: &str) -> Result<LeadCommand, String> {
    parse_category(rest).map(LeadCommand::Category)
}

fn parse_category(rest: &str) -> Result<Option<Category>, String> {
    if rest.is_empty() {
        return Ok(None);
    }
    let mut areas = Vec::new();
    let mut kinds = Vec::new();
    for token in rest
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
    {
        let t = token.trim_end_matches('.').to_lowercase();
        if let Some(area) = RiskArea::ALL.iter().find(|a| a.label().eq_ignore_ascii_case(&t)) {
            push_unique(&mut areas, *area);
        } else if let Some(kind) = t
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| RiskKind::ALL.get(i))
            .or_else(|| RiskKind::ALL.iter().find(|k| k.keyword() == t))
        {
            push_unique(&mut kinds, *kind);
            if let Some(area) = kind.area() {
                push_unique(&mut areas, area);
            }
        } else {
            return Err(format!(
                "I don't know the category \"{token}\". Send !category to see the choices, then for example: !category 3 or !category grooming or !category contact"
            ));
        }
    }
    areas.sort();
    Ok(Some((areas, kinds)))
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

pub(super) fn apply<'a>(case: &'a Casefile, areas: &[RiskArea], kinds: &[RiskKind]) -> Written<'a> {
    let r = &case.reference;
    let text = crate::casework::category_text(areas, kinds);
    Written::entry(
        EntryKind::Category {
            areas: areas.to_vec(),
            kinds: kinds.to_vec(),
        },
        move |n| format!("Category of {r} set to {text} (entry {n})."),
    )
}

/// The choices for `!category`, with the current category.
pub fn category_choices(case: &Casefile) -> String {
    let mut out = String::new();
    match case.category() {
        Some((areas, kinds)) => out.push_str(&format!(
            "{} is categorised as {}.\n",
            case.reference,
            crate::casework::category_text(areas, kinds)
        )),
        None => out.push_str(&format!("{} has no category yet.\n", case.reference)),
    }
    out.push_str("Set it with !category and one or more numbers or words, for example: !category 3 or !category grooming nudes\n");
    for (i, k) in RiskKind::ALL.iter().enumerate() {
        let area = k.area().map_or("", |a| a.label());
        out.push_str(&format!(
            "{}. {} ({}){}\n",
            i + 1,
            k.label(),
            k.keyword(),
            with_area(area)
        ));
    }
    out.push_str("Or an area on its own: content, contact, conduct or commerce.");
    out
}

fn with_area(area: &str) -> String {
    if area.is_empty() {
        String::new()
    } else {
        format!(", {area}")
    }
}
