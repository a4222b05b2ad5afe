#include "dataplane/models/model_fetcher.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <exception>
#include <future>

#include "common/log/log.h"
#include "dataplane/provider/provider.h"

namespace fwd::dataplane::models {
namespace {

namespace asio = boost::asio;

// How long the config thread waits for the fetcher's thread to build a catalog. Building takes
// microseconds to milliseconds; waiting longer means that thread is stuck, and the config must
// not wait on it.
constexpr auto kBuildWait = std::chrono::seconds(5);

std::string urlOf(const config::UpstreamTarget& t) {
  return std::string(t.tls ? "https://" : "http://") + t.host_header + t.base_path +
         (t.insecure_skip_verify ? "#insecure" : "");
}

// The fwd_upstream_model_fetches_total outcome of one fetch, and the list when it is "ok".
std::string_view classify(const probe::HttpGetResult& r, absl::StatusOr<ReportedModelList>& list,
                          std::string& why) {
  switch (r.error) {
    case probe::HttpGetError::kNone:
      break;
    case probe::HttpGetError::kTimeout:
      why = r.detail;
      return "timeout";
    case probe::HttpGetError::kMalformed:
      why = r.detail;
      return "invalid";
    default:
      why = r.detail;
      return "connect";
  }
  if (r.status < 200 || r.status > 299) {
    why = "answered HTTP " + std::to_string(r.status);
    return "http_error";
  }
  if (r.truncated) {
    why = "the list is larger than " + std::to_string(r.body.size()) + " bytes";
    return "invalid";
  }
  list = parseModelList(r.body);
  if (!list.ok()) {
    why = std::string(list.status().message());
    return "invalid";
  }
  return "ok";
}

}  // namespace

ModelFetcher::ModelFetcher(Options options, metrics::Metrics& metrics, PublishFn publish,
                           probe::TlsClientContexts& tls)
    : options_(options), metrics_(metrics), publish_(std::move(publish)), tls_(tls) {}

ModelFetcher::~ModelFetcher() { stop(); }

void ModelFetcher::start() {
  running_ = true;
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(ioc_);
    ioc_.run();
  });
}

void ModelFetcher::stop() {
  if (!running_.exchange(false)) {
    return;
  }
  ioc_.stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

CatalogConstSharedPtr ModelFetcher::applyConfig(config::CompiledConfigConstSharedPtr config) {
  if (!running_) {
    return onConfig(std::move(config));  // no fetcher thread (yet): nothing else touches state
  }
  auto promise = std::make_shared<std::promise<CatalogConstSharedPtr>>();
  std::future<CatalogConstSharedPtr> built = promise->get_future();
  asio::post(ioc_, [this, promise, config = std::move(config)]() mutable {
    promise->set_value(onConfig(std::move(config)));
  });
  if (built.wait_for(kBuildWait) != std::future_status::ready) {
    FWD_LOG(kError, "models") << "the model fetcher thread did not build the catalog within "
                              << kBuildWait.count() << " s; it is published later";
    return nullptr;
  }
  return built.get();
}

CatalogConstSharedPtr ModelFetcher::onConfig(config::CompiledConfigConstSharedPtr config) {
  config_ = std::move(config);
  std::map<std::string, UpstreamState> kept;
  for (const auto& u : config_->upstreams()) {
    if (u.provider && !u.provider->listsModels()) {
      continue;  // its /models says nothing of the names clients use (Azure): config names only
    }
    auto node = upstreams_.extract(u.name);
    UpstreamState state = node.empty() ? UpstreamState{} : std::move(node.mapped());
    std::string url = urlOf(u);
    if (node.empty() || state.url != url) {
      // Another server: its old list (if any) says nothing about this one.
      state = UpstreamState{};
      state.url = std::move(url);
      state.generation = ++next_generation_;
      state.credential = u.credential;
    } else if (state.credential != u.credential) {
      state.credential = u.credential;
      state.last_attempt = Clock::time_point::min();  // due now; the list stays meanwhile
    }
    kept.emplace(u.name, std::move(state));
  }
  // Upstreams no longer configured are forgotten; their fetches in flight are dropped on return.
  upstreams_ = std::move(kept);
  std::erase_if(queue_, [&](const std::string& name) { return !upstreams_.contains(name); });
  CatalogConstSharedPtr catalog = rebuild();
  if (options_.refresh.count() > 0) {
    onTimer();  // fetch what is due now, then wait for the next one
  }
  return catalog;
}

ModelFetcher::Clock::time_point ModelFetcher::dueAt(const UpstreamState& state) const {
  if (state.last_attempt == Clock::time_point::min()) {
    return state.last_attempt;
  }
  bool transient = state.last_outcome == "timeout" || state.last_outcome == "connect";
  auto interval =
      transient ? std::min(options_.refresh, options_.retry_after_failure) : options_.refresh;
  return state.last_attempt + interval;
}

void ModelFetcher::enqueue(const std::string& name, UpstreamState& state) {
  if (state.queued || state.in_flight) {
    return;
  }
  state.queued = true;
  queue_.push_back(name);
}

void ModelFetcher::pump() {
  while (in_flight_ < options_.max_parallel && !queue_.empty()) {
    std::string name = std::move(queue_.front());
    queue_.pop_front();
    auto it = upstreams_.find(name);
    const auto& targets = config_->upstreams();
    auto target = std::find_if(targets.begin(), targets.end(),
                               [&](const config::UpstreamTarget& t) { return t.name == name; });
    if (it == upstreams_.end() || target == targets.end()) {
      continue;
    }
    UpstreamState& state = it->second;
    state.queued = false;
    state.in_flight = true;
    state.last_attempt = Clock::now();
    ++in_flight_;
    probe::HttpGetRequest request = probe::upstreamGet(*target, "/models", options_.timeout);
    request.max_body_bytes = options_.max_body_bytes;
    asio::co_spawn(ioc_, fetch(name, state.generation, std::move(request)),
                   [name](std::exception_ptr e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         FWD_LOG(kError, "models")
                             << "fetching the model list of " << name << " failed: " << ex.what();
                       }
                     }
                   });
  }
}

asio::awaitable<void> ModelFetcher::fetch(std::string name, std::uint64_t generation,
                                          probe::HttpGetRequest request) {
  probe::HttpGetResult result = co_await probe::httpGet(request, tls_);
  finish(name, generation, result);
}

void ModelFetcher::finish(const std::string& name, std::uint64_t generation,
                          const probe::HttpGetResult& result) {
  --in_flight_;
  absl::StatusOr<ReportedModelList> list = absl::UnknownError("not parsed");
  std::string why;
  std::string_view outcome = classify(result, list, why);
  metrics_.model_fetches.Add({{"upstream", name}, {"outcome", std::string(outcome)}}).Increment();

  auto it = upstreams_.find(name);
  if (it != upstreams_.end() && it->second.generation == generation) {
    UpstreamState& state = it->second;
    state.in_flight = false;
    // A failure is a warning when it is new, so an upstream without a model list does not
    // fill the log at every refresh.
    bool repeated = state.last_outcome == outcome;
    state.last_outcome = std::string(outcome);
    if (outcome != "ok") {
      if (repeated) {
        FWD_LOG(kDebug, "models") << "model list of upstream " << name << ": " << why;
      } else {
        FWD_LOG(kWarn, "models") << "model list of upstream " << name << ": " << why << "; "
                                 << (state.models
                                         ? "keeping the last good list of " +
                                               std::to_string(state.models->size()) + " models"
                                         : std::string("listing its configured names"));
      }
    } else {
      bool changed =
          state.models == nullptr || state.models->size() != list->size() ||
          !std::equal(list->begin(), list->end(), state.models->begin(),
                      [](const ReportedModel& a, const ReportedModel& b) {
                        return a.id == b.id && a.created == b.created && a.owned_by == b.owned_by;
                      });
      FWD_LOG(kDebug, "models") << "upstream " << name << " lists " << list->size() << " models"
                                << (changed ? "" : " (unchanged)");
      if (changed) {
        state.models = std::make_shared<const ReportedModelList>(std::move(*list));
        scheduleRebuild();
      }
    }
  }
  pump();
  armTimer();
}

void ModelFetcher::armTimer() {
  auto next = Clock::time_point::max();
  for (const auto& [name, state] : upstreams_) {
    if (!state.queued && !state.in_flight) {
      next = std::min(next, dueAt(state));
    }
  }
  if (next == Clock::time_point::max()) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(next);  // cancels the previous wait
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      onTimer();
    }
  });
}

void ModelFetcher::onTimer() {
  auto now = Clock::now();
  for (auto& [name, state] : upstreams_) {
    if (dueAt(state) <= now) {
      enqueue(name, state);
    }
  }
  pump();
  armTimer();
}

void ModelFetcher::scheduleRebuild() {
  // Fetches that end together cause one rebuild.
  if (rebuild_pending_) {
    return;
  }
  rebuild_pending_ = true;
  asio::post(ioc_, [this] {
    rebuild_pending_ = false;
    if (config_) {
      publish_(rebuild());
    }
  });
}

CatalogConstSharedPtr ModelFetcher::rebuild() {
  ReportedLists reported;
  for (const auto& [name, state] : upstreams_) {
    if (state.models) {
      reported.emplace(name, state.models);
    }
  }
  std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  std::unordered_map<std::string, std::int64_t> seen;
  auto created = [&](const std::string& id) {
    auto it = first_seen_.find(id);
    std::int64_t t = it == first_seen_.end() ? now : it->second;
    seen.emplace(id, t);
    return t;
  };
  CatalogConstSharedPtr catalog = Catalog::build(*config_, reported, created, ++sequence_);
  first_seen_ = std::move(seen);  // forget models no longer listed
  return catalog;
}

}  // namespace fwd::dataplane::models
