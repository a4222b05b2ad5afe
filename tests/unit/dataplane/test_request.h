// A real RequestContext on an idle worker, for unit tests of policies and pipeline phases that
// only read or write the context (no IO happens).
#pragma once

#include <boost/asio/ssl/context.hpp>

#include "dataplane/metrics/metrics.h"
#include "dataplane/pipeline/client_conn.h"
#include "dataplane/pipeline/request_context.h"
#include "dataplane/proxy/worker_context.h"

namespace fwd::dataplane::testing {

class TestRequest {
 public:
  TestRequest()
      : metrics_(1),
        verify_(boost::asio::ssl::context::tls_client),
        insecure_(boost::asio::ssl::context::tls_client),
        worker_(0, options_, metrics_, verify_, insecure_),
        client_(proxy::Socket(worker_.ioc.get_executor())),
        parser_(storage_, 0),
        ctx_(worker_, client_, parser_, true) {}

  pipeline::RequestContext& ctx() { return ctx_; }

 private:
  proxy::ProxyOptions options_;
  metrics::Metrics metrics_;
  boost::asio::ssl::context verify_;
  boost::asio::ssl::context insecure_;
  proxy::WorkerContext worker_;
  pipeline::ClientConn client_;
  proxy::ClientRequestParser::Storage storage_;
  proxy::ClientRequestParser parser_;
  pipeline::RequestContext ctx_;
};

}  // namespace fwd::dataplane::testing
