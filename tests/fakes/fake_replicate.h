// The fake upstream's Replicate mode (fake_upstream --replicate-api-key): Replicate's predictions
// API as its HTTP reference describes it, for the provider that translates to it. No IO here.
//
// POST <prefix>/models/OWNER/NAME/predictions (or <prefix>/predictions with a "version") with
// `Authorization: Bearer KEY` and {"input":{"prompt",...},"stream":bool} creates a prediction
// (201) of a model among --models ("owner/name", or "owner/name:version" for versions). It answers
// the prediction: {"id","model","version","input","status","output","error","logs","metrics",
// "created_at","urls":{"get","cancel","stream"?}}. With `Prefer: wait` the answer waits for the
// prediction to finish (here: it is done at once) unless it needs polling. GET urls.get reads it;
// POST urls.cancel cancels it (counted in /_fake/stats as replicate_cancels); GET urls.stream
// (`Accept: text/event-stream`) streams it: "event: output / id / data: <text>"
// per token, then "event: done / data: {}"; a failed one "event: error / data: {"detail"}" then
// "event: done / data: {"reason":"error"}". Errors are RFC 7807 problems {"title","detail",
// "status"} (422 with "invalid_fields").
//
// Fault injection comes with the create request (the GETs are fwd's own): x-fake-status N (the
// create answers N), x-fake-replicate-polls N (the prediction is "processing" for N reads of
// urls.get; `Prefer: wait` gives up at once then), x-fake-replicate-throttle N (the first N reads
// of urls.get are 429s with Retry-After: 1), x-fake-replicate-fail 1 (the prediction
// fails), x-fake-chunks, x-fake-cut-after and x-fake-chunk-delay-ms (of the stream). A prompt
// holding ECHO_PROMPT is answered with the prompt itself (one piece), so tests see the template.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace fwd::fakes {

struct ReplicateConfig {
  bool enabled = false;
  std::string api_key;  // `Authorization: Bearer KEY` (or `Token KEY`) must carry it
};

/// The faults of a create request (its x-fake-* fields).
struct ReplicateFaults {
  int status = 0;
  int polls = 0;
  int throttle = 0;  // x-fake-replicate-throttle: the first N reads of urls.get are 429s
  bool fail = false;
  int chunks = 5;
  int cut_after = -1;
  int chunk_delay_ms = 0;
};

/// One answer of the fake: a JSON body, or a stream's events.
struct ReplicateReply {
  int status = 200;
  std::string body;                 // JSON, when not a stream
  bool stream = false;              // `events` are the answer
  std::vector<std::string> events;  // whole SSE events, "event: ...\n...\n\n" each
  int cut_after = -1;               // the stream: close after this many events
  int chunk_delay_ms = 0;
};

/// The predictions the fake created, for the GETs that follow. Thread-safe.
class ReplicateFake {
 public:
  explicit ReplicateFake(ReplicateConfig config) : config_(std::move(config)) {}

  /// Answers `method target` (`host`: the Host field, for the URLs it hands out).
  ReplicateReply handle(std::string_view method, std::string_view target,
                        std::string_view authorization, bool prefer_wait, std::string_view host,
                        const std::vector<std::string>& models, std::string_view body,
                        const ReplicateFaults& faults, std::string_view name);

  /// Predictions canceled (POST urls.cancel) while they ran.
  int cancels();

 private:
  struct Prediction {
    std::string id, model, version, prompt;
    std::string created_at;
    bool stream = false;
    ReplicateFaults faults;
    int polls_left = 0;
    int throttle_left = 0;
    bool canceled = false;
    std::string host, prefix;
  };

  ReplicateReply create(std::string_view path, std::string_view host, bool prefer_wait,
                        const std::vector<std::string>& models, std::string_view body,
                        const ReplicateFaults& faults, std::string_view name);
  std::string predictionJson(const Prediction& p, std::string_view status,
                             std::string_view name) const;

  ReplicateConfig config_;
  std::mutex mu_;
  std::map<std::string, Prediction> predictions_;
  std::uint64_t next_id_ = 1;
  int cancels_ = 0;
};

}  // namespace fwd::fakes
