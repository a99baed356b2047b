//! A console client for the tests: keeps cookies by hand (so a test can replay an old one),
//! reads CSRF tokens from pages, signs in.

use reqwest::header::HeaderMap;

/// A console response.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    }

    /// The whole `Set-Cookie` header of cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// `name=value` of cookie `name`, to send back.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookie(name)
            .and_then(|c| c.split(';').next().map(str::to_string))
    }

    /// The first `csrf` hidden field of the page.
    pub fn csrf(&self) -> String {
        self.html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no csrf field in the page: {}", self.html))
            .to_string()
    }

    /// The `Location` of a redirect.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<no location>")
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A signed-in session: its cookie (`name=value`) and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// Talks to one server's console without following redirects.
pub struct Console {
    client: reqwest::Client,
    base: String,
    /// The session cookie's name (`__Host-easel_session` over https).
    pub cookie_name: String,
}

impl Console {
    /// A client for the server at `base` whose public URL is http.
    pub fn new(base: &str) -> Console {
        Console {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_else(|e| panic!("client: {e}")),
            base: base.to_string(),
            cookie_name: "easel_session".into(),
        }
    }

    async fn page(req: reqwest::RequestBuilder) -> Page {
        let res = req.send().await.unwrap_or_else(|e| panic!("request: {e}"));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let html = res.text().await.unwrap_or_else(|e| panic!("body: {e}"));
        Page {
            status,
            headers,
            html,
        }
    }

    /// `GET path` with `cookies`.
    pub async fn get(&self, path: &str, cookies: &[&str]) -> Page {
        let req = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", cookies.join("; "));
        Console::page(req).await
    }

    /// `POST path` with `cookies`, extra `headers` and a form.
    pub async fn post(
        &self,
        path: &str,
        cookies: &[&str],
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", cookies.join("; "))
            .form(form);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        Console::page(req).await
    }

    /// The sign-in form: its pre-session cookie (`name=value`) and its CSRF token.
    pub async fn login_page(&self) -> (String, String) {
        let page = self.get("/console/login", &[]).await;
        assert_eq!(page.status, 200, "{}", page.html);
        let name = self.cookie_name.replace("easel_session", "easel_login");
        let cookie = page
            .cookie(&name)
            .unwrap_or_else(|| panic!("no {name} cookie: {:?}", page.set_cookies()));
        (cookie, page.csrf())
    }

    /// Fetches the sign-in form and sends it with `headers`.
    pub async fn try_sign_in(
        &self,
        username: &str,
        password: &str,
        headers: &[(&str, &str)],
    ) -> Page {
        self.try_sign_in_with(username, password, headers, &[])
            .await
    }

    /// Fetches the sign-in form and sends it with `headers` and more `cookies`.
    pub async fn try_sign_in_with(
        &self,
        username: &str,
        password: &str,
        headers: &[(&str, &str)],
        cookies: &[&str],
    ) -> Page {
        let (cookie, csrf) = self.login_page().await;
        let form = [
            ("username", username),
            ("password", password),
            ("csrf", &csrf),
        ];
        let mut all = vec![cookie.as_str()];
        all.extend_from_slice(cookies);
        self.post("/console/login", &all, headers, &form).await
    }

    /// Signs in (asserting it works) and reads the dashboard's CSRF token.
    pub async fn sign_in(&self, username: &str, password: &str) -> Session {
        let page = self.try_sign_in(username, password, &[]).await;
        assert_eq!(page.status, 303, "sign-in failed: {}", page.html);
        let cookie = page
            .cookie(&self.cookie_name)
            .unwrap_or_else(|| panic!("no session cookie: {:?}", page.set_cookies()));
        let dashboard = self.get("/console", &[&cookie]).await;
        assert_eq!(dashboard.status, 200, "{}", dashboard.html);
        Session {
            cookie,
            csrf: dashboard.csrf(),
        }
    }

    /// Switches a member's console to `mode` (`test`/`live`); the mode cookie to send along.
    pub async fn switch_mode(&self, session: &Session, mode: &str) -> String {
        let page = self
            .post(
                "/console/switch",
                &[&session.cookie],
                &[],
                &[("csrf", &session.csrf), ("mode", mode)],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.html);
        page.cookie("easel_mode")
            .unwrap_or_else(|| panic!("no mode cookie: {:?}", page.set_cookies()))
    }

    /// Whether `cookie` opens the dashboard (else it is sent to the login page).
    pub async fn opens(&self, cookie: &str) -> bool {
        let page = self.get("/console", &[cookie]).await;
        match page.status {
            200 => true,
            303 if page.location() == "/console/login" => false,
            other => panic!("unexpected {other} from /console: {}", page.html),
        }
    }
}
