#include "tests/fakes/fake_replicate.h"

#include <nlohmann/json.hpp>

#include "tests/fakes/fake_llm.h"

namespace fwd::fakes {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kStreamPrefix = "/stream/v1/files/";
constexpr int kPredictionTokens = 3;

ReplicateReply replicateProblem(int status, std::string_view title, std::string_view detail,
                                Json extra = Json::object()) {
  ReplicateReply r;
  r.status = status;
  Json body = {{"title", title}, {"detail", detail}, {"status", status}};
  for (auto& [k, v] : extra.items()) {
    body[k] = v;
  }
  r.body = body.dump();
  return r;
}

ReplicateReply replicateNotFound() {
  return replicateProblem(404, "Not found", "The requested resource could not be found.");
}

// Replicate's problem for an injected status.
ReplicateReply injectedProblem(int status) {
  switch (status) {
    case 401:
      return replicateProblem(401, "Unauthenticated",
                              "You did not pass a valid authentication token");
    case 402:
      return replicateProblem(402, "Insufficient credit",
                              "You have insufficient credit to run this model. Go to "
                              "https://replicate.com/account/billing#billing to purchase credit.");
    case 404:
      return replicateNotFound();
    case 429:
      return replicateProblem(429, "Request was throttled.",
                              "Request was throttled. Expected available in 1 second.");
    default:
      return replicateProblem(status, "Fake error",
                              "fake upstream error " + std::to_string(status));
  }
}

std::string pieceText(int i, std::string_view name) {
  std::string t;
  appendToken(t, i, name);
  return t;
}

// An SSE event whose data is `text` (a data line per line of it).
std::string sseEvent(std::string_view name, std::string_view id, std::string_view text) {
  std::string out = "event: " + std::string(name) + "\n";
  if (!id.empty()) {
    out += "id: " + std::string(id) + "\n";
  }
  size_t start = 0;
  for (;;) {
    size_t nl = text.find('\n', start);
    out += "data: " + std::string(text.substr(start, nl - start)) + "\n";
    if (nl == std::string_view::npos) {
      break;
    }
    start = nl + 1;
  }
  return out + "\n";
}

}  // namespace

ReplicateReply ReplicateFake::handle(std::string_view method, std::string_view target,
                                     std::string_view authorization, bool prefer_wait,
                                     std::string_view host, const std::vector<std::string>& models,
                                     std::string_view body, const ReplicateFaults& faults,
                                     std::string_view name) {
  if (authorization != "Bearer " + config_.api_key && authorization != "Token " + config_.api_key) {
    return injectedProblem(401);
  }
  std::string_view path = target.substr(0, target.find('?'));
  if (method == "POST" && path.ends_with("/cancel")) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string_view rest = path.substr(0, path.size() - std::string_view("/cancel").size());
    auto it = predictions_.find(std::string(rest.substr(rest.rfind('/') + 1)));
    if (it == predictions_.end()) {
      return replicateNotFound();
    }
    if (!it->second.canceled) {
      it->second.canceled = true;
      ++cancels_;
    }
    ReplicateReply r;
    r.body = predictionJson(it->second, "canceled", name);
    return r;
  }
  if (method == "POST" && path.ends_with("/predictions")) {
    if (faults.status != 0) {
      return injectedProblem(faults.status);
    }
    return create(path, host, prefer_wait, models, body, faults, name);
  }
  if (method != "GET") {
    return replicateNotFound();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (path.starts_with(kStreamPrefix)) {
    auto it = predictions_.find(std::string(path.substr(kStreamPrefix.size())));
    if (it == predictions_.end() || !it->second.stream) {
      return replicateNotFound();
    }
    const Prediction& p = it->second;
    ReplicateReply r;
    r.stream = true;
    r.cut_after = p.faults.cut_after;
    r.chunk_delay_ms = p.faults.chunk_delay_ms;
    if (p.faults.fail) {
      r.events.push_back(sseEvent("error", "", R"j({"detail":"CUDA out of memory (fake)"})j"));
      r.events.push_back(sseEvent("done", "", R"({"reason":"error"})"));
      return r;
    }
    if (p.prompt.find("ECHO_PROMPT") != std::string::npos) {
      r.events.push_back(sseEvent("output", "1:0", p.prompt));
    } else {
      for (int i = 0; i < p.faults.chunks; ++i) {
        r.events.push_back(sseEvent("output", "1:" + std::to_string(i), pieceText(i, name)));
      }
    }
    r.events.push_back(sseEvent("done", "", "{}"));
    return r;
  }
  size_t slash = path.rfind('/');
  std::string_view id = path.substr(slash + 1);
  auto it = predictions_.find(std::string(id));
  if (it == predictions_.end() || !path.substr(0, slash).ends_with("/predictions") ||
      path.substr(0, slash - std::string_view("/predictions").size()) != it->second.prefix) {
    return replicateNotFound();
  }
  Prediction& p = it->second;
  ReplicateReply r;
  if (p.throttle_left > 0) {
    --p.throttle_left;
    return injectedProblem(429);
  }
  if (p.polls_left > 0) {
    --p.polls_left;
    r.body = predictionJson(p, "processing", name);
    return r;
  }
  r.body = predictionJson(p, p.faults.fail ? "failed" : "succeeded", name);
  return r;
}

int ReplicateFake::cancels() {
  std::lock_guard<std::mutex> lock(mu_);
  return cancels_;
}

ReplicateReply ReplicateFake::create(std::string_view path, std::string_view host, bool prefer_wait,
                                     const std::vector<std::string>& models, std::string_view body,
                                     const ReplicateFaults& faults, std::string_view name) {
  Json request = Json::parse(body, nullptr, false);
  if (!request.is_object()) {
    return replicateProblem(400, "Invalid JSON", "The request body is not valid JSON.");
  }
  Prediction p;
  size_t models_at = path.find("/models/");
  if (models_at != std::string_view::npos) {
    p.prefix = std::string(path.substr(0, models_at));
    p.model = std::string(path.substr(
        models_at + 8, path.size() - models_at - 8 - std::string_view("/predictions").size()));
    bool known = false;
    for (const std::string& m : models) {
      known = known || m.substr(0, m.find(':')) == p.model;
    }
    if (!known) {
      return replicateNotFound();
    }
    p.version = "fakeversion";
  } else {
    p.prefix = std::string(path.substr(0, path.size() - std::string_view("/predictions").size()));
    auto version = request.find("version");
    if (version == request.end() || !version->is_string()) {
      return replicateProblem(
          422, "Input validation failed", "- version: version is required",
          {{"invalid_fields", Json::array({{{"type", "required"},
                                            {"field", "version"},
                                            {"description", "version is required"}}})}});
    }
    // "owner/name:version" (that model's version only) or the version id alone.
    std::string asked = version->get<std::string>();
    size_t at = asked.find(':');
    p.version = at == std::string::npos ? asked : asked.substr(at + 1);
    for (const std::string& m : models) {
      size_t colon = m.find(':');
      if (colon != std::string::npos && m.substr(colon + 1) == p.version &&
          (at == std::string::npos || asked.substr(0, at) == m.substr(0, colon))) {
        p.model = m.substr(0, colon);
      }
    }
    if (p.model.empty()) {
      return replicateProblem(
          422, "Invalid version or not permitted",
          "The specified version does not exist (or perhaps you don't have permission "
          "to use it?)");
    }
  }
  auto input = request.find("input");
  if (input == request.end() || !input->is_object() || !input->contains("prompt") ||
      !(*input)["prompt"].is_string()) {
    return replicateProblem(
        422, "Input validation failed", "- input: prompt is required",
        {{"invalid_fields", Json::array({{{"type", "required"},
                                          {"field", "input"},
                                          {"description", "prompt is required"}}})}});
  }
  p.prompt = (*input)["prompt"].get<std::string>();
  auto stream = request.find("stream");
  p.stream = stream != request.end() && stream->is_boolean() && stream->get<bool>();
  p.faults = faults;
  p.polls_left = faults.polls;
  p.throttle_left = faults.throttle;
  p.host = std::string(host);
  p.created_at = "2026-12-06T00:00:00.000000Z";
  std::lock_guard<std::mutex> lock(mu_);
  p.id = "fakepred" + std::to_string(next_id_++);
  ReplicateReply r;
  r.status = 201;
  std::string status = "starting";
  if (prefer_wait && !p.stream && p.polls_left == 0) {
    status = p.faults.fail ? "failed" : "succeeded";
  }
  r.body = predictionJson(p, status, name);
  predictions_[p.id] = std::move(p);
  return r;
}

std::string ReplicateFake::predictionJson(const Prediction& p, std::string_view status,
                                          std::string_view name) const {
  const std::string base = "http://" + p.host;
  Json urls = {{"cancel", base + p.prefix + "/predictions/" + p.id + "/cancel"},
               {"get", base + p.prefix + "/predictions/" + p.id},
               {"web", "https://replicate.com/p/" + p.id}};
  if (p.stream) {
    urls["stream"] = base + std::string(kStreamPrefix) + p.id;
  }
  Json output = nullptr;
  Json metrics = Json::object();
  Json error = nullptr;
  if (status == "succeeded") {
    output = Json::array();
    if (p.prompt.find("ECHO_PROMPT") != std::string::npos) {
      output.push_back(p.prompt);
    } else {
      for (int i = 0; i < (p.stream ? p.faults.chunks : kPredictionTokens); ++i) {
        output.push_back(pieceText(i, name));
      }
    }
    metrics = {{"predict_time", 0.25},
               {"input_token_count", kPromptTokens},
               {"output_token_count", static_cast<int>(output.size())},
               {"tokens_per_second", 12.0}};
  } else if (status == "failed") {
    error = "CUDA out of memory (fake)";
  }
  Json prediction = {{"id", p.id},
                     {"model", p.model},
                     {"version", p.version},
                     {"input", {{"prompt", p.prompt}}},
                     {"logs", ""},
                     {"output", std::move(output)},
                     {"data_removed", false},
                     {"error", std::move(error)},
                     {"status", status},
                     {"created_at", p.created_at},
                     {"urls", std::move(urls)},
                     {"metrics", std::move(metrics)}};
  return prediction.dump();
}

}  // namespace fwd::fakes
