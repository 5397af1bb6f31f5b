//! What the portal's tests share: a real browser (Debian's Chromium, headless, driven through
//! chromedriver over plain W3C WebDriver HTTP), and sessions, pages and forms over raw HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// The key W3C WebDriver names element references by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver of our own on a port it chose, and one browser session in it. Dropping it
/// ends the session's browser and the driver.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// `None` (a failure under CI) without chromium and chromedriver.
    pub async fn start() -> Option<Self> {
        if !have_tool("chromium") || !have_tool("chromedriver") {
            return None;
        }
        let mut driver = Command::new("chromedriver")
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let stdout = driver.stdout.take().expect("stdout");
        let port = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.split("started successfully on port ").nth(1).map(|p| p.trim_end_matches('.').to_owned()))
            .expect("chromedriver names its port");
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--window-size=420,800",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}});
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("json");
        let id = res["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {res}"));
        Some(Browser { driver, http, session: format!("{base}/session/{id}"), _profile: profile })
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res: Value = req.send().await.expect("webdriver").json().await.expect("json");
        res["value"].clone()
    }

    pub async fn go(&self, url: &str) {
        self.call(Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    pub async fn url(&self) -> String {
        self.call(Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The element `css` selects; panics naming the page if there is none.
    pub async fn find(&self, css: &str) -> String {
        let v = self.call(Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        match v[ELEMENT].as_str() {
            Some(id) => id.to_owned(),
            None => panic!("no {css} on {} ({v}): {}", self.url().await, self.source().await),
        }
    }

    pub async fn count(&self, css: &str) -> usize {
        let v = self.call(Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await;
        v.as_array().map_or(0, Vec::len)
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(Method::GET, &format!("/element/{id}/text"), None).await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(Method::POST, &format!("/element/{id}/value"), Some(json!({"text": text}))).await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    pub async fn source(&self) -> String {
        self.call(Method::GET, "/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn script(&self, script: &str) -> Value {
        self.call(Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    pub async fn session_cookie(&self) -> Option<Value> {
        let cookies = self.call(Method::GET, "/cookie", None).await;
        cookies.as_array()?.iter().find(|c| c["name"] == "berth_session").cloned()
    }

    /// Waits (up to 10 s) until the script `condition` returns true.
    pub async fn wait_for(&self, condition: &str) {
        for _ in 0..100 {
            if self.script(&format!("return {condition}")).await == json!(true) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("waited 10 s for {condition} on {}", self.url().await);
    }

    /// Signs in through the form, and waits for the answer (the overview or a refusal): a
    /// form's POST may still be under way when the click returns.
    pub async fn sign_in(&self, app: &TestApp, user: &str, password: &str) {
        self.go(&app.url("/signin")).await;
        self.type_into("#username", user).await;
        self.type_into("#password", password).await;
        self.click("button[type=submit]").await;
        self.wait_for("document.readyState === 'complete' && !!document.querySelector('header nav, p.error')").await;
    }

    /// Clicks `css` and waits until the page that follows has loaded and holds `then` (a CSS
    /// selector): a click that submits a form returns before its answer has arrived. `then`
    /// must not be on the page clicked, or this may return before the next page came.
    pub async fn click_then(&self, css: &str, then: &str) {
        self.click(css).await;
        self.wait_for(&format!("document.readyState === 'complete' && !!document.querySelector({then:?})")).await;
    }

    /// Saves the page as `NAME.png` in `$BERTH_PORTAL_SCREENSHOTS` when that is set (how
    /// `docs/portal/` is made: see `docs/portal.md`).
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("BERTH_PORTAL_SCREENSHOTS") else { return };
        use base64::Engine as _;
        // Taken in a desktop-sized window; the tests run in a narrow one.
        self.call(Method::POST, "/window/rect", Some(json!({"width": 1200, "height": 900}))).await;
        let png = self.call(Method::GET, "/screenshot", None).await;
        self.call(Method::POST, "/window/rect", Some(json!({"width": 420, "height": 800}))).await;
        let png = base64::engine::general_purpose::STANDARD.decode(png.as_str().expect("base64")).expect("png");
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).expect("screenshot saved");
    }

    /// From the repository list, the page of repository `name`.
    pub async fn open_repository(&self, app: &TestApp, name: &str) {
        self.go(&app.url("/repositories")).await;
        self.click(&format!("#repositories a[href$='name={}']", name.replace('/', "%2F"))).await;
        self.wait_for("document.readyState === 'complete' && !!document.querySelector('#tags')").await;
    }
}

impl Drop for Browser {
    /// Ends the session (chromedriver quits its browser; killed, the driver would leave the
    /// browser running), then the driver. Blocking: a drop cannot await.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Some((authority, path)) = self.session.strip_prefix("http://").and_then(|s| s.split_once('/'))
            && let Ok(mut stream) = std::net::TcpStream::connect(authority)
        {
            let request = format!("DELETE /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let _ = stream.write_all(request.as_bytes());
            // The answer comes once the browser has quit; chromedriver keeps the connection.
            let _ = stream.read(&mut [0u8; 1024]);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

pub async fn cookie_of(browser: &Browser) -> String {
    let c = browser.session_cookie().await.expect("a session");
    format!("berth_session={}", c["value"].as_str().expect("value"))
}

/// The CSRF token in a page of the portal.
pub fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a CSRF token").to_owned()
}

/// Signs the admin user in over raw HTTP; returns the `Set-Cookie` header.
pub async fn raw_sign_in(app: &TestApp) -> String {
    raw_sign_in_as(app, ADMIN, ADMIN_PASSWORD).await
}

/// Signs `user` in over raw HTTP; returns the `Set-Cookie` header.
pub async fn raw_sign_in_as(app: &TestApp, user: &str, password: &str) -> String {
    let form = [("username", user), ("password", password)];
    let res = app.client.post(app.url("/signin")).form(&form).send().await.expect("POST");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    res.headers()["set-cookie"].to_str().expect("cookie").to_owned()
}

/// The `Cookie` header of a session of `user`, signed in over raw HTTP.
pub async fn session_of(app: &TestApp, user: &str, password: &str) -> String {
    let set = raw_sign_in_as(app, user, password).await;
    set.split(';').next().expect("name=value").to_owned()
}

/// GETs `path` with the session `cookie`: (status, page).
pub async fn page(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let res = app.client.get(app.url(path)).header("cookie", cookie).send().await.expect("GET");
    (res.status(), res.text().await.expect("page"))
}

/// POSTs `form` as it stands, as a browser on the portal's own page would (`Sec-Fetch-Site`).
pub async fn post(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let req = app.client.post(app.url(path)).header("cookie", cookie).header("sec-fetch-site", "same-origin");
    let res = req.form(form).send().await.expect("POST");
    (res.status(), res.text().await.expect("page"))
}

/// POSTs `form` with the session's CSRF token (read from the overview, which every session sees).
pub async fn post_with_csrf(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let csrf = csrf_in(&page(app, cookie, "/").await.1);
    let mut fields = form.to_vec();
    fields.push(("csrf", &csrf));
    post(app, cookie, path, &fields).await
}
