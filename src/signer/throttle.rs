//! `--kube-api-qps` / `--kube-api-burst`: a client-side token bucket in
//! front of every request to the API server, as client-go's flowcontrol
//! limiter (upstream's flags): `burst` requests at once, then `qps` a second.
//! A watch counts once, when it starts. `qps` 0 means no limit.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tower_layer::Layer;
use tower_service::Service;

/// A client from the inferred config (in-cluster or KUBECONFIG), behind the limiter.
pub async fn client(qps: f64, burst: u32) -> Result<kube::Client, kube::Error> {
    let config = kube::Config::infer().await.map_err(kube::Error::InferConfig)?;
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(builder.with_layer(&ThrottleLayer { qps, burst }).build())
}

/// The bucket. Pure: the caller passes the time.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// Full at the start.
    pub fn new(qps: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self { qps, burst, tokens: burst, at: now }
    }

    /// Takes a token, or says how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        // 0 (or NaN, which the flag parser lets through): no limit.
        if self.qps.is_nan() || self.qps <= 0.0 {
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.qps))
        }
    }
}

/// The layer for `kube::client::ClientBuilder::with_layer`.
pub struct ThrottleLayer {
    pub qps: f64,
    pub burst: u32,
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;

    fn layer(&self, inner: S) -> Throttle<S> {
        Throttle { inner, bucket: TokenBucket::new(self.qps, self.burst, Instant::now()), wait: None, permit: false }
    }
}

/// The service: not ready until a token is taken (kube's client buffers
/// requests in front of it, so waiting here queues them in order).
pub struct Throttle<S> {
    inner: S,
    bucket: TokenBucket,
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
    permit: bool,
}

impl<S: Service<R>, R> Service<R> for Throttle<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        while !self.permit {
            if let Some(wait) = self.wait.as_mut() {
                ready!(wait.as_mut().poll(cx));
                self.wait = None;
            }
            match self.bucket.take(Instant::now()) {
                Ok(()) => self.permit = true,
                Err(d) => self.wait = Some(Box::pin(tokio::time::sleep(d))),
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> S::Future {
        self.permit = false;
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_qps_a_second() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3, t0);
        assert!((0..3).all(|_| b.take(t0).is_ok()), "the burst");
        let wait = b.take(t0).unwrap_err();
        assert!((wait.as_millis() as i64 - 100).abs() <= 1, "{wait:?}");
        assert!(b.take(t0 + Duration::from_millis(100)).is_ok());
        // Idle for long: never more than the burst.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| b.take(later).is_ok()));
        assert!(b.take(later).is_err());
        let mut open = TokenBucket::new(0.0, 1, t0);
        assert!((0..1000).all(|_| open.take(t0).is_ok()), "qps 0: no limit");
    }

    #[tokio::test]
    async fn the_service_waits_for_tokens() {
        use futures::FutureExt as _;
        let inner = tower_service_fn(|()| async { Ok::<_, std::convert::Infallible>(()) });
        let mut svc = ThrottleLayer { qps: 20.0, burst: 1 }.layer(inner);
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
            svc.call(()).now_or_never();
        }
        // One at once, then two more at 20 a second.
        assert!(start.elapsed() >= Duration::from_millis(95), "{:?}", start.elapsed());
    }

    /// A service from a closure (tower's `service_fn`, without tower).
    fn tower_service_fn<F, Fut>(f: F) -> impl Service<(), Response = (), Error = std::convert::Infallible, Future = Fut>
    where
        F: FnMut(()) -> Fut,
        Fut: std::future::Future<Output = Result<(), std::convert::Infallible>>,
    {
        struct Fn<F>(F);
        impl<F: FnMut(()) -> Fut, Fut: std::future::Future<Output = Result<(), std::convert::Infallible>>> Service<()>
            for Fn<F>
        {
            type Response = ();
            type Error = std::convert::Infallible;
            type Future = Fut;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, r: ()) -> Fut {
                (self.0)(r)
            }
        }
        Fn(f)
    }
}
