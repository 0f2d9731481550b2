//! Page templates (minijinja), embedded in the binary from `themes/default/`.

use minijinja::Environment;

const DEFAULT_THEME: &[(&str, &str)] = &[
    ("base.html", include_str!("../../themes/default/base.html")),
    ("login.html", include_str!("../../themes/default/login.html")),
    ("error.html", include_str!("../../themes/default/error.html")),
    ("info.html", include_str!("../../themes/default/info.html")),
    (
        "logout_confirm.html",
        include_str!("../../themes/default/logout_confirm.html"),
    ),
    ("form_post.html", include_str!("../../themes/default/form_post.html")),
];

pub const DEFAULT_CSS: &str = include_str!("../../themes/default/style.css");

pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        for (name, source) in DEFAULT_THEME {
            // The embedded templates are part of the build; a syntax error in one is caught
            // by the unit test below, never at run time.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "built-in template does not compile");
            }
        }
        Templates { env }
    }

    /// Renders a template; a rendering failure becomes a plain, safe message.
    pub fn render(&self, name: &str, context: &serde_json::Value) -> String {
        self.env
            .get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(context)))
            .unwrap_or_else(|e| {
                tracing::error!(template = name, error = %e, "template rendering failed");
                "<!doctype html><title>Error</title><p>This page could not be displayed.</p>".to_string()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_compile_and_escape() {
        let t = Templates::new();
        for (name, _) in DEFAULT_THEME {
            assert!(t.env.get_template(name).is_ok(), "{name}");
        }
        let html = t.render(
            "login.html",
            &json!({ "realm_name": "Demo", "action": "/a", "csrf": "c", "username": "<script>", "error": null }),
        );
        assert!(html.contains("name=\"username\""));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }
}
