//! ACL administration (`/v1/acls`): create bindings, list and delete them by
//! filter (Kafka's `Admin.createAcls / describeAcls / deleteAcls`).

use super::{path_segment, AdminClient};
use crate::error::FerryError;
use ferry_common::acls::{
    AclBindingFilter, AclList, AclsCreated, AclsDeleted, CreateAclsRequest, DeleteAclsRequest,
};
use ferry_common::security::AclBinding;

impl AdminClient {
    /// Stores `acls`; the answer's `metadata_offset` is where they take
    /// effect (a broker enforces them once its metadata offset reaches it).
    pub async fn create_acls(&self, acls: Vec<AclBinding>) -> Result<AclsCreated, FerryError> {
        let req = CreateAclsRequest { acls };
        self.request(reqwest::Method::POST, "/v1/acls", Some(&req))
            .await
    }

    /// The bindings `filter` selects (an empty filter: all).
    pub async fn list_acls(
        &self,
        filter: &AclBindingFilter,
    ) -> Result<Vec<AclBinding>, FerryError> {
        let path = format!("/v1/acls{}", query(filter));
        let l: AclList = self
            .request::<(), _>(reqwest::Method::GET, &path, None)
            .await?;
        Ok(l.acls)
    }

    /// Deletes every binding any of `filters` selects; answers what went.
    pub async fn delete_acls(
        &self,
        filters: Vec<AclBindingFilter>,
    ) -> Result<AclsDeleted, FerryError> {
        let req = DeleteAclsRequest { filters };
        self.request(reqwest::Method::DELETE, "/v1/acls", Some(&req))
            .await
    }
}

/// `?field=value&...` for the filter's present fields, as the server names them.
fn query(filter: &AclBindingFilter) -> String {
    let fields = match serde_json::to_value(filter) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return String::new(),
    };
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| Some(format!("{k}={}", path_segment(v.as_str()?))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_common::acls::PatternTypeFilter;
    use ferry_common::security::ResourceType;

    #[test]
    fn the_filter_becomes_an_encoded_query() {
        assert_eq!(query(&AclBindingFilter::default()), "");
        let f = AclBindingFilter {
            resource_type: Some(ResourceType::Topic),
            resource_name: Some("a b".into()),
            pattern_type: Some(PatternTypeFilter::Match),
            principal: Some("User:*".into()),
            ..Default::default()
        };
        let q = query(&f);
        let mut parts: Vec<&str> = q.trim_start_matches('?').split('&').collect();
        parts.sort();
        assert_eq!(
            parts,
            [
                "pattern_type=MATCH",
                "principal=User%3A%2A",
                "resource_name=a%20b",
                "resource_type=Topic"
            ]
        );
    }
}
