// One client connection: a C++20 coroutine on its worker's io_context that reads HTTP/1.1
// keep-alive request heads (TLS first when the listener has a certificate) and hands each request
// to the pipeline (dataplane/pipeline/pipeline.h), until the client, a limit or a drain ends it.
#pragma once

#include "dataplane/proxy/request_rules.h"
#include "dataplane/proxy/worker_context.h"
#include "dataplane/proxy/worker_io.h"

namespace fwd::dataplane::proxy {

/// Runs until the client closes, a limit or error ends the connection, or a drain closes it
/// while idle. Never throws.
Task<void> serveConnection(WorkerContext& worker, Socket socket);

}  // namespace fwd::dataplane::proxy
