// HTTP: an HTTP/1.1 server for applications of the library OS.
//
// Layers, bottom to top:
//   * `HTTPRequestParser`   incremental RFC 9112 request parser with configurable `HTTPLimits`; consumes input in
//                           pieces of any size, stops at the end of each request, never reads past its input.
//   * `HTTPResponse`        a response value; `HTTPResponseEncoder` serializes it into a reusable `[UInt8]` or a
//                           caller-provided buffer (`HTTPFixedBuffer`).
//   * `HTTPServerConnection` the pure per-connection state machine: bytes in, requests (or an error response) out,
//                           responses in, bytes to send out, plus the keep-alive decision. No I/O, no clock.
//   * `serve(connection:…)` a blocking loop over any `HTTPTransport` (read / write / close), which the integration
//                           layer implements with TCP sockets.
//   * `HTTPStaticPath`, `HTTPContentType`  helpers for serving files: safe path normalization and media types.
//
// The module depends only on `Interfaces` and compiles both for the host and as Embedded Swift: no Foundation,
// typed throws only, no String comparison (header names and methods are compared as bytes).
