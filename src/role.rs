//! The three readers a glossary entry speaks to. A subscriber may have one;
//! a term has a paragraph for each.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    TechnicalLead,
    BusinessOwner,
    Executive,
}

impl Role {
    /// In the order a reader without a role sees them.
    pub const ALL: [Role; 3] = [Role::TechnicalLead, Role::BusinessOwner, Role::Executive];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::TechnicalLead => "technical_lead",
            Role::BusinessOwner => "business_owner",
            Role::Executive => "executive",
        }
    }

    /// How the role is named to a reader: "For the technical lead".
    pub fn label(self) -> &'static str {
        match self {
            Role::TechnicalLead => "Technical lead",
            Role::BusinessOwner => "Business owner",
            Role::Executive => "Executive",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}`; use one of {names}", names = Role::ALL.map(Role::as_str).join(", "))]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("ceo".parse::<Role>().is_err());
    }
}
