//! The fake's routes: reading a request the way OpenAI does (auth, then parameters),
//! recording it, applying the next scripted fault, and answering.

use std::sync::atomic::Ordering;

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::answers::{Oops, fault_answer, file_url, picture};
use super::{Fault, Received, ReceivedFile, Shared, St};

/// Parameters `POST /images/generations` knows (`ImageGenerateParams`).
const GENERATE_PARAMS: &[&str] = &[
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "output_format",
    "output_compression",
    "background",
    "moderation",
    "response_format",
    "style",
    "user",
    "stream",
    "partial_images",
];

/// Parameters `POST /images/edits` knows (`ImageEditParams`): no `moderation`, no `style`.
const EDIT_PARAMS: &[&str] = &[
    "image",
    "image[]",
    "mask",
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "input_fidelity",
    "background",
    "output_format",
    "output_compression",
    "partial_images",
    "stream",
    "response_format",
    "user",
];

/// What an images request asked for.
struct Ask {
    model: String,
    n: usize,
    size: (u32, u32),
    response_format: Option<String>,
}

/// Counts the request as aborted unless it is answered: axum drops a handler whose client
/// closed the connection, which is how a cancel looks from the server's side.
struct Answering<'a>(&'a Shared, bool);

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.aborted.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub(super) async fn generations(
    State(s): State<St>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut answering = Answering(&s, false);
    let mut received = start_request(&s, "generations", &headers);
    let ask = match serde_json::from_slice::<Value>(&body) {
        Err(_) => Err(Oops::invalid(
            None,
            None,
            "We could not parse the JSON body of your request.",
        )),
        Ok(json) => {
            let ask = read_generation(&json);
            received.json = Some(json);
            ask
        }
    };
    let response = images_answer(&s, &headers, received, ask).await;
    answering.1 = true;
    response
}

pub(super) async fn edits(
    State(s): State<St>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let mut answering = Answering(&s, false);
    let mut received = start_request(&s, "edits", &headers);
    let ask = match read_multipart(multipart, &mut received).await {
        Err(message) => Err(Oops::invalid(None, None, message)),
        Ok(()) => read_edit(&received),
    };
    let response = images_answer(&s, &headers, received, ask).await;
    answering.1 = true;
    response
}

pub(super) async fn models(State(s): State<St>, headers: HeaderMap) -> Response {
    let received = start_request(&s, "models", &headers);
    record(&s, received);
    if let Err(denied) = check_key(&s, &headers) {
        return denied.into_response();
    }
    let probe_fault = s.model_faults.lock().ok().and_then(|mut f| f.pop_front());
    if let Some(fault) = probe_fault
        && let Some(response) = fault_answer(&s, &fault, "gpt-image-1").await
    {
        return response;
    }
    let data: Vec<Value> = s
        .config
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "system"}))
        .collect();
    let body = axum::Json(json!({"object": "list", "data": data}));
    ([("openai-version", "2020-10-01")], body).into_response()
}

pub(super) async fn file(State(s): State<St>, Path(name): Path<String>) -> Response {
    let bytes = s.files.lock().ok().and_then(|f| f.get(&name).cloned());
    match bytes {
        Some(bytes) => ([("content-type", "image/png")], bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn start_request(s: &Shared, endpoint: &str, headers: &HeaderMap) -> Received {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Received {
        endpoint: endpoint.to_owned(),
        authorization: text("authorization"),
        client_request_id: text("x-client-request-id"),
        ..Received::default()
    }
}

fn record(s: &Shared, received: Received) {
    if s.config.record
        && let Ok(mut all) = s.received.lock()
    {
        all.push(received);
    }
}

fn next_fault(s: &Shared) -> Option<Fault> {
    s.faults.lock().ok().and_then(|mut f| f.pop_front())
}

/// OpenAI's 401s, when a key is required and the right one was not sent.
fn check_key(s: &Shared, headers: &HeaderMap) -> Result<(), Oops> {
    let Some(want) = s.config.api_key.as_deref() else {
        return Ok(());
    };
    let got = headers.get("authorization").and_then(|v| v.to_str().ok());
    match got.and_then(|g| g.strip_prefix("Bearer ")) {
        Some(key) if key == want => Ok(()),
        None => Err(Oops::no_key()),
        Some(key) => Err(Oops::wrong_key(key)),
    }
}

fn read_generation(json: &Value) -> Result<Ask, Oops> {
    let Some(object) = json.as_object() else {
        return Err(Oops::invalid(None, None, "The body must be a JSON object."));
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| !GENERATE_PARAMS.contains(&k.as_str()))
    {
        return Err(Oops::unknown_parameter(unknown));
    }
    let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
    let n = object.get("n").map_or(Some(1), Value::as_u64);
    let ask = ask(text("model"), text("prompt"), n, text("size"), "dall-e-2")?;
    Ok(Ask {
        response_format: text("response_format"),
        ..ask
    })
}

fn read_edit(received: &Received) -> Result<Ask, Oops> {
    let fields = &received.fields;
    if let Some(unknown) = fields.keys().find(|k| !EDIT_PARAMS.contains(&k.as_str())) {
        return Err(Oops::unknown_parameter(unknown));
    }
    let image = received
        .image
        .as_ref()
        .ok_or_else(|| Oops::missing("image"))?;
    let mime = image
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    if !["image/png", "image/jpeg", "image/webp"].contains(&mime) {
        return Err(Oops::invalid(
            Some("invalid_image_format"),
            Some("image"),
            format!(
                "Invalid file 'image': unsupported mimetype ('{mime}'). Supported file formats \
                 are 'image/jpeg', 'image/png', and 'image/webp'."
            ),
        ));
    }
    let n = fields.get("n").map_or(Some(1), |n| n.parse().ok());
    let get = |name: &str| fields.get(name).cloned();
    let ask = ask(get("model"), get("prompt"), n, get("size"), "gpt-image-1.5")?;
    Ok(Ask {
        response_format: get("response_format"),
        ..ask
    })
}

/// Checks the parameters both endpoints share.
fn ask(
    model: Option<String>,
    prompt: Option<String>,
    n: Option<u64>,
    size: Option<String>,
    default_model: &str,
) -> Result<Ask, Oops> {
    if prompt.as_deref().is_none_or(str::is_empty) {
        return Err(Oops::missing("prompt"));
    }
    let Some(n @ 1..=10) = n else {
        let message = "Invalid 'n': integer must be between 1 and 10.";
        return Err(Oops::invalid(Some("invalid_value"), Some("n"), message));
    };
    let size = size.unwrap_or_else(|| "auto".to_owned());
    let parsed = match size.as_str() {
        "auto" => Some((1024, 1024)),
        wxh => wxh
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?))),
    };
    let fits = |&(w, h): &(u32, u32)| (1..=4096).contains(&w) && (1..=4096).contains(&h);
    let Some(size) = parsed.filter(fits) else {
        let message = format!(
            "Invalid value: '{size}'. Supported values are: '1024x1024', '1024x1536', \
             '1536x1024', and 'auto'."
        );
        return Err(Oops::invalid(Some("invalid_value"), Some("size"), message));
    };
    Ok(Ask {
        model: model.unwrap_or_else(|| default_model.to_owned()),
        n: n as usize,
        size,
        response_format: None,
    })
}

async fn read_multipart(mut multipart: Multipart, received: &mut Received) -> Result<(), String> {
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| format!("Could not parse multipart form: {e}"))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field
            .bytes()
            .await
            .map_err(|e| format!("Could not read '{name}': {e}"))?;
        if name == "image" || name == "image[]" {
            received.image = Some(ReceivedFile {
                filename,
                content_type,
                bytes: bytes.to_vec(),
            });
        } else {
            let value = String::from_utf8_lossy(&bytes).into_owned();
            received.fields.insert(name, value);
        }
    }
    Ok(())
}

/// Auth, then the parameters, then the scripted fault, then the model, then the images.
async fn images_answer(
    s: &Shared,
    headers: &HeaderMap,
    received: Received,
    ask: Result<Ask, Oops>,
) -> Response {
    record(s, received);
    let ask = match check_key(s, headers).and(ask) {
        Ok(ask) => ask,
        Err(oops) => return oops.into_response(),
    };
    // DALL·E answers with URLs unless asked for base64; GPT image models always base64.
    let mut as_url = ask.response_format.as_deref() == Some("url")
        || (ask.model.starts_with("dall-e") && ask.response_format.is_none());
    let mut size = ask.size;
    match next_fault(s) {
        Some(Fault::UrlAnswer) => as_url = true,
        Some(Fault::WrongSize { width, height }) => size = (width, height),
        Some(other) => {
            if let Some(response) = fault_answer(s, &other, &ask.model).await {
                return response;
            }
        }
        None => {}
    }
    if !s.config.models.contains(&ask.model) {
        return Oops::model_not_found(&ask.model).into_response();
    }
    axum::Json(images(s, &ask, size, as_url)).into_response()
}

/// `ImagesResponse`: `usage` and the echoed settings only for GPT image models.
fn images(s: &Shared, ask: &Ask, size: (u32, u32), as_url: bool) -> Value {
    let data: Vec<Value> = (0..ask.n)
        .map(|i| {
            let b64 = picture(s, size, i);
            if as_url {
                json!({"url": file_url(s, &b64), "revised_prompt": null})
            } else {
                json!({"b64_json": &*b64})
            }
        })
        .collect();
    let mut answer = json!({"created": 1_700_000_000, "data": data});
    if !ask.model.starts_with("dall-e") {
        let out = 272 * ask.n;
        answer["size"] = json!(format!("{}x{}", size.0, size.1));
        answer["output_format"] = json!("png");
        answer["usage"] = json!({
            "input_tokens": 50,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
            "output_tokens": out,
            "output_tokens_details": {"image_tokens": out, "text_tokens": 0},
            "total_tokens": 50 + out,
        });
    }
    answer
}
