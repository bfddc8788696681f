//! A small builder for SQL whose shape depends on the request (list filters,
//! `IN` lists). Values are always bound as parameters, and only fixed fragments
//! written in this crate become SQL text.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

use crate::db::Backend;

/// One bound value.
#[derive(Clone, Debug)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

impl From<String> for Param {
    fn from(value: String) -> Self {
        Param::Text(value)
    }
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::Text(value.to_owned())
    }
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

pub(crate) struct SqlBuilder {
    backend: Backend,
    sql: String,
    params: Vec<Param>,
}

impl SqlBuilder {
    pub(crate) fn new(backend: Backend, sql: &str) -> Self {
        SqlBuilder {
            backend,
            sql: sql.to_owned(),
            params: Vec::new(),
        }
    }

    /// Starts with SQL text that already contains the placeholders `$1` to
    /// `$n` for `params`; later binds continue at `$n+1`.
    pub(crate) fn with_params(backend: Backend, sql: &str, params: Vec<Param>) -> Self {
        SqlBuilder {
            backend,
            sql: sql.to_owned(),
            params,
        }
    }

    /// Appends fixed SQL text. Never pass request data here.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: impl Into<Param>) -> &mut Self {
        self.params.push(value.into());
        self.sql.push('$');
        self.sql.push_str(&self.params.len().to_string());
        self
    }

    /// Appends `(<p1>, <p2>, ...)`. The caller must not pass an empty list,
    /// which would be invalid SQL.
    pub(crate) fn bind_list<T: Into<Param>>(
        &mut self,
        values: impl IntoIterator<Item = T>,
    ) -> &mut Self {
        self.push("(");
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self.push(")")
    }

    /// Appends a case-insensitive substring match of `column` against
    /// `needle`, with `%`, `_` and `\` in the needle matched literally.
    pub(crate) fn contains_ignore_case(&mut self, column: &'static str, needle: &str) -> &mut Self {
        let pattern = format!("%{}%", escape_like(needle));
        let operator = self.backend.ilike();
        self.push(column).push(" ").push(operator).push(" ");
        self.bind(pattern).push(" ESCAPE '\\'")
    }

    pub(crate) fn build(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut query = sqlx::query::<Any>(&self.sql);
        for param in &self.params {
            query = match param {
                Param::Text(value) => query.bind(value.as_str()),
                Param::Int(value) => query.bind(*value),
            };
        }
        query
    }

    #[cfg(test)]
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }
}

/// Escapes the `LIKE` wildcards `%` and `_` and the escape character `\`.
pub(crate) fn escape_like(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut b = SqlBuilder::new(Backend::Postgres, "SELECT 1 WHERE a = ");
        b.bind("x").push(" AND b IN ").bind_list([1_i64, 2]);
        assert_eq!(b.sql(), "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
    }

    #[test]
    fn contains_uses_dialect_operator() {
        let mut pg = SqlBuilder::new(Backend::Postgres, "");
        pg.contains_ignore_case("email", "a");
        assert_eq!(pg.sql(), "email ILIKE $1 ESCAPE '\\'");

        let mut lite = SqlBuilder::new(Backend::Sqlite, "");
        lite.contains_ignore_case("email", "a");
        assert_eq!(lite.sql(), "email LIKE $1 ESCAPE '\\'");
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_off\x"), r"50\%\_off\\x");
    }
}
