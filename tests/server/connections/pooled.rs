//! hyper-util's pooled client, HTTP/1.1 and HTTP/2: no connection error after rejections.

use super::*;

/// hyper-util's `HttpConnector`, counting the connections it opens.
#[derive(Clone)]
struct CountingConnector {
    inner: HttpConnector,
    opened: Arc<AtomicUsize>,
}

impl tower::Service<Uri> for CountingConnector {
    type Response = <HttpConnector as tower::Service<Uri>>::Response;
    type Error = <HttpConnector as tower::Service<Uri>>::Error;
    type Future = <HttpConnector as tower::Service<Uri>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        self.opened.fetch_add(1, Ordering::SeqCst);
        self.inner.call(uri)
    }
}

/// A pooled client keeping one idle connection per host, which never retries a request on
/// another connection behind the test's back; and the count of connections it opened.
fn pooled_client(http2: bool) -> (Client<CountingConnector, Full<Bytes>>, Arc<AtomicUsize>) {
    let opened = Arc::new(AtomicUsize::new(0));
    let connector = CountingConnector { inner: HttpConnector::new(), opened: opened.clone() };
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .retry_canceled_requests(false)
        .http2_only(http2)
        .build(connector);
    (client, opened)
}

/// Sends `delivery` with `client`; a connection error is an `Err`.
async fn send_pooled(
    client: &Client<CountingConnector, Full<Bytes>>,
    addr: SocketAddr,
    delivery: &Delivery,
) -> Result<Answer, String> {
    let request = client.request(delivery.http(addr));
    let response = tokio::time::timeout(crate::common::EXCHANGE_TIMEOUT, request)
        .await
        .map_err(|_| format!("{}: no answer within 20 s", delivery.label))?
        .map_err(|error| format!("{}: request failed: {error:?}", delivery.label))?;
    let status = response.status().as_u16();
    let connection = response
        .headers()
        .get(http::header::CONNECTION)
        .map(|value| value.to_str().unwrap().to_owned());
    let body =
        tokio::time::timeout(crate::common::EXCHANGE_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| format!("{}: no response body within 20 s", delivery.label))?
            .map_err(|error| format!("{}: response body failed: {error:?}", delivery.label))?
            .to_bytes();
    Ok(Answer { status, connection, body: String::from_utf8_lossy(&body).into_owned() })
}

async fn pooled_client_sees_no_connection_error(target: Target) {
    let (client, opened) = pooled_client(false);
    let sequence = keep_alive_sequence("pooled", target.ok_body);
    for delivery in &sequence {
        let answer = send_pooled(&client, target.addr, delivery).await;
        let answer = answer.unwrap_or_else(|error| panic!("{}: {error}", target.name));
        delivery.verdict(&answer).unwrap_or_else(|error| panic!("{}: {error}", target.name));
        // The pool takes a connection back in a task of its own once the connection is idle:
        // let it run, so that the next request finds the connection in the pool instead of
        // racing a new one against it.
        tokio::task::yield_now().await;
    }
    let opened = opened.load(Ordering::SeqCst);
    println!("{}: {} requests over {opened} connection(s)", target.name, sequence.len());
    // A rejection that closed its connection would have cost a new one.
    assert_eq!(opened, 1, "{}: the pool reused one connection for every request", target.name);
    assert_eq!(target.delivered(), ids(&sequence), "{}: deliveries", target.name);
}

#[tokio::test]
async fn a_pooled_hyper_client_reusing_its_connection_never_fails_after_rejections_by_an_axum_app()
{
    pooled_client_sees_no_connection_error(
        Target::axum(MeshagentSignatureLayer::new(SECRET)).await,
    )
    .await;
}

#[tokio::test]
async fn a_pooled_hyper_client_reusing_its_connection_never_fails_after_rejections_by_the_built_in_server()
 {
    let target = Target::builtin(MeshagentSignatureLayer::new(SECRET)).await;
    pooled_client_sees_no_connection_error(target).await;
}

#[tokio::test]
async fn over_http2_rejections_carry_no_connection_header_and_the_same_connection_serves_the_next_delivery()
 {
    let target = Target::builtin(MeshagentSignatureLayer::new(SECRET)).await;
    let (client, opened) = pooled_client(true);
    let sequence = keep_alive_sequence("h2", target.ok_body);
    for delivery in &sequence {
        let answer = send_pooled(&client, target.addr, delivery).await.unwrap();
        // `verdict` also requires that there is no `connection` header.
        delivery.verdict(&answer).unwrap();
    }
    assert_eq!(opened.load(Ordering::SeqCst), 1, "one HTTP/2 connection carried every request");
    assert_eq!(target.delivered(), ids(&sequence));
}

/// hyper strips a `Connection` header from HTTP/2 answers, so the wire cannot show whether
/// the layer adds one: the layer is called directly here.
#[tokio::test]
async fn the_layer_adds_connection_close_to_an_undrainable_http1_rejection_but_nothing_to_an_http2_one()
 {
    let app: Router = Router::new()
        .route("/webhook", post(|| async { "ok" }))
        .layer(MeshagentSignatureLayer::new(SECRET));
    for (version, connection) in [(Version::HTTP_11, Some("close")), (Version::HTTP_2, None)] {
        // A client waiting for `100 Continue`: the body cannot be drained.
        let request = Request::post("/webhook")
            .version(version)
            .header("content-type", "application/json")
            .header("expect", "100-continue")
            .header("content-length", "2")
            .body(axum::body::Body::from("{}"))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{version:?}");
        let header = response.headers().get("connection").map(|value| value.to_str().unwrap());
        assert_eq!(header, connection, "{version:?}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "missing signature", "{version:?}");
    }
}
