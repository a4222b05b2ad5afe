// What one request has learnt on its way through the pipeline (pipeline.h): the snapshot it
// pinned, who sent it, its key, model, route, the upstreams tried, its status and timings. Each
// phase reads what earlier phases wrote and adds its own; finish() turns it into the request's one
// outcome. Lives in the request's coroutine frame; views point into the request, the pinned
// snapshot or the worker, all of which outlive it.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/cidr.h"
#include "dataplane/config/compiled_config.h"
#include "dataplane/policy/chain.h"
#include "dataplane/provider/provider.h"
#include "dataplane/proxy/body_inspect.h"
#include "dataplane/proxy/client_request.h"
#include "dataplane/proxy/errors.h"
#include "dataplane/proxy/worker_context.h"
#include "dataplane/proxy/worker_io.h"
#include "dataplane/ratelimit/key_limiter.h"
#include "dataplane/records/bodies.h"
#include "dataplane/rewrite/body_edits.h"
#include "dataplane/usage/answer_scan.h"
#include "dataplane/usage/usage.h"

namespace fwd::dataplane::pipeline {

using Clock = std::chrono::steady_clock;
using proxy::ApiError;
using proxy::ClientRequestParser;
using proxy::Socket;
using proxy::Task;
using proxy::WorkerContext;

struct ClientConn;  // client_conn.h

struct RequestContext {
  RequestContext(WorkerContext& worker, ClientConn& connection, ClientRequestParser& request,
                 bool keep_alive_asked)
      : w(worker), client(connection), req(request), keep_alive(keep_alive_asked) {}
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  WorkerContext& w;
  ClientConn& client;
  ClientRequestParser& req;

  // Set before the first phase.
  Clock::time_point start = Clock::now();
  bool keep_alive;  // the client allows it and the worker is not draining

  // admit: the snapshot this request is served under, its path and its key.
  proxy::WorkerSnapshotSharedPtr pinned;
  const config::CompiledConfig* cfg = nullptr;  // pinned->config, once admitted
  std::string_view prefix;                      // route prefix before "/v1/", or ""
  std::string_view path;                        // the API path from "/v1/", without query
  std::string_view target_rest;                 // after "/v1", query included: what upstreams get
  const config::KeyEntry* key = nullptr;
  // The client's address: the peer's, or the one trusted proxies reported (access/ip_access.h),
  // and the X-Forwarded-For to send upstream (empty: the peer's address alone). Set only when
  // IP rules are configured.
  common::net::IpAddress client_ip;
  std::string forwarded_for;
  // What the request took from its key's limits (ratelimit/), and the fields every answer to
  // it carries ("name: value\r\n" each: x-ratelimit-*).
  ratelimit::Admission limits;
  ratelimit::Admission route_limits;  // what it took from its route's limits
  std::string response_fields;

  // inspect: what the body says.
  proxy::BodyInfo body;
  std::string model;  // the model asked for, or the path for bodies without one

  // plan and attempts.
  const config::CompiledRoute* route = nullptr;  // the route matched; null: none
  std::string_view route_name = "default";
  std::string_view model_label;  // metrics label of `model` (bounded cardinality)
  std::string served_model;      // the model named in the body as it goes upstream
  // The body as the client sent it, once an attempt edited it (the edited one is req.body()),
  // and the edits req.body() carries.
  std::optional<std::string> original_body;
  rewrite::BodyEdits body_edits;
  // An attempt at an upstream whose provider translates (provider.h): the body it is sent and
  // what the translation found in the client's.
  std::string provider_body;
  provider::Translation translation;
  const config::UpstreamTarget* upstream = nullptr;  // of the attempt under way, or the last
  size_t attempts = 0;
  std::optional<Clock::time_point> first_byte;  // the first response body byte went out
  std::optional<Clock::time_point> pace_at;     // a paced stream: when its next token may go
  usage::Usage usage;  // what the answer reported using (read only when a policy needs it)
  // Attempts that failed before the one that answered (or before fwd gave up): the upstream, the
  // attempt's outcome (connect, http_5xx, first_byte_timeout ...) and the upstream's status.
  struct FailedAttempt {
    const config::UpstreamTarget* upstream = nullptr;
    std::string reason;
    int status = 0;
  };
  std::vector<FailedAttempt> failed_attempts;
  Clock::duration upstream_time{};  // spent in attempts: fwd's own share is the rest
  std::uint64_t bytes_out = 0;      // of the answer's body, as the client got it
  std::uint64_t stream_events = 0;  // SSE events relayed
  // Records (records/): the relay's scan of the answer, on while the data plane records; and
  // whether the request carries images, audio or files.
  std::optional<usage::AnswerScanner> answer_scan;
  bool multimodal = false;
  // The request's id while the data plane records (its record's id): sent as x-request-id when
  // the upstream sends none, and with fwd's own answers. Empty: none.
  std::string_view request_id;
  std::array<char, 32> request_id_chars{};
  std::string upstream_request_id;  // the upstream's x-request-id, while recording
  // The bodies kept for the request's record or the JSONL files (records/bodies.h); null: none.
  // Mutable: the records policy hands them to the recorder from its finish hook.
  mutable std::unique_ptr<records::Bodies> bodies;

  // The outcome so far.
  int status = 0;          // answered (499: the client left; 0: nothing was answered)
  std::string error_code;  // the error answered, or why the request ended; empty when ok
  bool dropped = false;    // ends without an answer (the client is gone or broke the framing)

  /// The snapshot's policies and this worker's slots for them; only once cfg is set.
  const policy::Chain& policies() const { return cfg->policies(); }
  const policy::Chain::Slots& policySlots() const { return pinned->policy_slots; }

  /// Ends the request without an answer, as `status` (499: the client left).
  void drop(int why) {
    status = why;
    dropped = true;
  }
};

}  // namespace fwd::dataplane::pipeline
