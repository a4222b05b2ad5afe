#include "controlplane/store/sqlite_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <utility>

#include "common/config/stream_mode.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace fwd::controlplane::store {
namespace {

// Schema steps, applied in order; PRAGMA user_version holds how many have run. Never edit a
// released step: append a new one.
constexpr std::array<const char*, 13> kMigrations = {
    // 1: initial schema.
    R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('config_version', 0);

CREATE TABLE upstreams (
  id INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation sequence, never reused
  name TEXT NOT NULL UNIQUE,
  base_url TEXT NOT NULL,
  api_key TEXT,
  api_key_env TEXT,
  models TEXT NOT NULL DEFAULT '[]',     -- JSON array of glob patterns
  priority INTEGER NOT NULL DEFAULT 0,
  weight INTEGER NOT NULL DEFAULT 1,
  timeout_ns INTEGER NOT NULL,
  insecure_skip_verify INTEGER NOT NULL DEFAULT 0,
  create_time_us INTEGER NOT NULL,
  update_time_us INTEGER NOT NULL,
  CHECK (api_key IS NULL OR api_key_env IS NULL)
) STRICT;

CREATE TABLE keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  secret_sha256 TEXT NOT NULL UNIQUE,    -- lowercase hex; the secret itself is never stored
  display_prefix TEXT NOT NULL,
  models TEXT NOT NULL DEFAULT '[]',
  create_time_us INTEGER NOT NULL,
  revoke_time_us INTEGER
) STRICT;

CREATE TABLE tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL CHECK (kind IN ('admin', 'node')),
  sha256 TEXT NOT NULL UNIQUE,           -- lowercase hex; the token itself is never stored
  create_time_us INTEGER NOT NULL
) STRICT;
)sql",
    // 2: routes. Upstream names are kept as a JSON array in group order; each write transaction
    // checks that they exist, and deleteUpstream that no route still names the upstream.
    R"sql(
CREATE TABLE routes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation sequence, never reused
  name TEXT NOT NULL UNIQUE,
  path_prefix TEXT NOT NULL DEFAULT '',
  models TEXT NOT NULL DEFAULT '[]',     -- JSON array of {"exact"|"keyword"|"glob": "..."}
  upstreams TEXT NOT NULL DEFAULT '[]',  -- JSON array of upstream names, in group order
  strategy TEXT NOT NULL,                -- fwd.v1.BalanceStrategy value name
  fallback_models TEXT NOT NULL DEFAULT '[]',
  rewrite_model TEXT NOT NULL DEFAULT '',
  retries INTEGER NOT NULL DEFAULT 0,
  retry_on TEXT NOT NULL DEFAULT '[]',   -- JSON array of fwd.v1.RetryOn value names
  priority INTEGER NOT NULL DEFAULT 0,
  create_time_us INTEGER NOT NULL,
  update_time_us INTEGER NOT NULL
) STRICT;
)sql",
    // 3: per-upstream deny list, fine timeouts, outlier detection and health check; route
    // timeouts, retry backoff, and whether a route has a retry policy at all. A NULL duration
    // column or object column means the field is unset (its default applies). Routes stored
    // before this step read their policy as present only when it was not empty, as they did.
    R"sql(
ALTER TABLE upstreams ADD COLUMN deny_models TEXT NOT NULL DEFAULT '[]';  -- JSON array of globs
ALTER TABLE upstreams ADD COLUMN connect_timeout_ns INTEGER;
ALTER TABLE upstreams ADD COLUMN first_byte_timeout_ns INTEGER;
ALTER TABLE upstreams ADD COLUMN stream_first_byte_timeout_ns INTEGER;
ALTER TABLE upstreams ADD COLUMN idle_timeout_ns INTEGER;
-- JSON {"disabled", "consecutive_failures", "base_ejection_time_ns"?, "max_ejection_time_ns"?}
ALTER TABLE upstreams ADD COLUMN outlier_detection TEXT;
-- JSON {"path", "interval_ns"?, "timeout_ns"?, "unhealthy_threshold", "healthy_threshold"}
ALTER TABLE upstreams ADD COLUMN health_check TEXT;

ALTER TABLE routes ADD COLUMN has_retry INTEGER NOT NULL DEFAULT 0;
UPDATE routes SET has_retry = 1 WHERE retries != 0 OR retry_on != '[]';
ALTER TABLE routes ADD COLUMN retry_backoff_base_ns INTEGER;
ALTER TABLE routes ADD COLUMN retry_backoff_max_ns INTEGER;
-- JSON {"connect_ns"?, "first_byte_ns"?, "stream_first_byte_ns"?, "idle_ns"?, "total_ns"?}
ALTER TABLE routes ADD COLUMN timeouts TEXT;
)sql",
    // 4: key rotation (the previous secret, accepted until its expiry) and key updates.
    R"sql(
ALTER TABLE keys ADD COLUMN previous_secret_sha256 TEXT;
ALTER TABLE keys ADD COLUMN previous_expire_time_us INTEGER;
ALTER TABLE keys ADD COLUMN update_time_us INTEGER;
)sql",
    // 5: errors as 200, per key and as a global setting. Settings are name/value text pairs;
    // which names exist and what values they take is validate/settings.h's to say.
    R"sql(
ALTER TABLE keys ADD COLUMN errors_as_200 INTEGER NOT NULL DEFAULT 0;
CREATE TABLE settings (
  name TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) STRICT;
)sql",
    // 6: IP access rules (global, and per key). CIDR blocks are stored in canonical form, so a
    // block written two ways is one rule.
    R"sql(
CREATE TABLE ip_rules (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  cidr TEXT NOT NULL,
  action TEXT NOT NULL,                  -- fwd.v1.IpRule.Action value name
  create_time_us INTEGER NOT NULL,
  UNIQUE (cidr, action)
) STRICT;
ALTER TABLE keys ADD COLUMN allow_ips TEXT NOT NULL DEFAULT '[]';  -- JSON array of CIDR blocks
ALTER TABLE keys ADD COLUMN deny_ips TEXT NOT NULL DEFAULT '[]';
)sql",
    // 7: request edits and the answer prefix, per upstream and per route. NULL: none.
    R"sql(
-- JSON {"max_tokens_cap"?, "stop"?: [...], "drop_empty_messages"?, "strip_think"?,
--       "answer_prefix"?}: a field is present when it is set
ALTER TABLE upstreams ADD COLUMN edits TEXT;
ALTER TABLE routes ADD COLUMN edits TEXT;
)sql",
    // 8: limits per key. NULL: none of its own.
    R"sql(
-- fwd.v1.Limits in protobuf's JSON mapping (field names as in the .proto), so fields added
-- later read back without a migration
ALTER TABLE keys ADD COLUMN limits TEXT;
)sql",
    // 9: prices of models, in millionths of a US dollar per 1M tokens.
    R"sql(
CREATE TABLE prices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model TEXT NOT NULL UNIQUE,            -- a model name or glob pattern
  input_usd_micros INTEGER NOT NULL,
  output_usd_micros INTEGER NOT NULL,
  cached_input_usd_micros INTEGER,       -- NULL: as input
  create_time_us INTEGER NOT NULL,
  update_time_us INTEGER NOT NULL
) STRICT;
)sql",
    // 10: limits per route (fwd.v1.Limits as JSON, as keys.limits), counted per key or shared.
    R"sql(
ALTER TABLE routes ADD COLUMN limits TEXT;
ALTER TABLE routes ADD COLUMN limits_shared INTEGER NOT NULL DEFAULT 0;
)sql",
    // 11: notifiers (fwd.v1.Notifier, binary protobuf: URL and token included).
    R"sql(
CREATE TABLE notifiers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  notifier BLOB NOT NULL,
  create_time_us INTEGER NOT NULL,
  update_time_us INTEGER NOT NULL
) STRICT;
)sql",
    // 12: request bodies in the records of a route's or a key's requests.
    R"sql(
ALTER TABLE routes ADD COLUMN log_bodies INTEGER NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN log_bodies INTEGER NOT NULL DEFAULT 0;
)sql",
    // 13: the API an upstream speaks and its options. NULL: OpenAI's, no options.
    R"sql(
-- {"provider": "PROVIDER_AZURE", "azure": {...}}: fwd.v1.Upstream's provider fields in
-- protobuf's JSON mapping, so options added later read back without a migration
ALTER TABLE upstreams ADD COLUMN provider TEXT;
)sql",
};

constexpr char kUpstreamColumns[] =
    "id, name, base_url, api_key, api_key_env, models, priority, weight, timeout_ns, "
    "insecure_skip_verify, create_time_us, update_time_us, deny_models, connect_timeout_ns, "
    "first_byte_timeout_ns, stream_first_byte_timeout_ns, idle_timeout_ns, outlier_detection, "
    "health_check, edits, provider";
constexpr char kRouteColumns[] =
    "id, name, path_prefix, models, upstreams, strategy, fallback_models, rewrite_model, "
    "retries, retry_on, priority, create_time_us, update_time_us, has_retry, "
    "retry_backoff_base_ns, retry_backoff_max_ns, timeouts, edits, limits, limits_shared, "
    "log_bodies";
constexpr char kKeyColumns[] =
    "id, name, secret_sha256, display_prefix, models, create_time_us, revoke_time_us, "
    "previous_secret_sha256, previous_expire_time_us, update_time_us, errors_as_200, allow_ips, "
    "deny_ips, limits, log_bodies";

void setTimestamp(std::int64_t micros, google::protobuf::Timestamp* ts) {
  std::int64_t secs = micros / 1000000;
  std::int64_t rem = micros % 1000000;
  if (rem < 0) {
    secs -= 1;
    rem += 1000000;
  }
  ts->set_seconds(secs);
  ts->set_nanos(static_cast<std::int32_t>(rem * 1000));
}

std::int64_t durationNanos(const google::protobuf::Duration& d) {
  return d.seconds() * 1000000000 + d.nanos();
}

void setDuration(std::int64_t nanos, google::protobuf::Duration* d) {
  d->set_seconds(nanos / 1000000000);
  d->set_nanos(static_cast<std::int32_t>(nanos % 1000000000));
}

/// The column value of an optional duration: nanoseconds, or NULL when unset.
std::optional<std::int64_t> nanosColumn(bool has, const google::protobuf::Duration& d) {
  if (!has) {
    return std::nullopt;
  }
  return durationNanos(d);
}

/// Sets `*d()` from a nullable nanoseconds column; leaves the field unset for NULL.
template <typename Mutable>
void readNanosColumn(const Statement& row, int index, Mutable d) {
  if (!row.columnIsNull(index)) {
    setDuration(row.columnInt(index), d());
  }
}

/// A JSON object column: an object whose keys are all in `known`, else DATA_LOSS naming
/// `column`.
absl::StatusOr<nlohmann::json> objectFromJson(const std::string& text, const char* column,
                                              std::initializer_list<const char*> known) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    return absl::DataLossError(std::string("stored ") + column +
                               " column is not a JSON object: " + text);
  }
  for (const auto& [key, value] : parsed.items()) {
    bool ok = std::any_of(known.begin(), known.end(), [&](const char* k) { return key == k; });
    bool typed = value.is_boolean() || value.is_number_integer() || value.is_string() ||
                 (value.is_array() && std::all_of(value.begin(), value.end(),
                                                  [](const auto& v) { return v.is_string(); }));
    if (!ok || !typed) {
      return absl::DataLossError(std::string("stored ") + column +
                                 " column holds an unknown or malformed \"" + key + "\": " + text);
    }
  }
  return parsed;
}

/// Writes `key` as nanoseconds when the duration is set; an unset one has no key.
void putNanos(nlohmann::json& obj, const char* key, bool has, const google::protobuf::Duration& d) {
  if (has) {
    obj[key] = durationNanos(d);
  }
}

/// Sets `*d()` from an integer `key` of `obj` when present. False when it is not an integer.
template <typename Mutable>
bool getNanos(const nlohmann::json& obj, const char* key, Mutable d) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    return true;
  }
  if (!it->is_number_integer()) {
    return false;
  }
  setDuration(it->get<std::int64_t>(), d());
  return true;
}

/// Reads an unsigned 32-bit `key` of `obj` (absent: 0). False when malformed.
bool getUint32(const nlohmann::json& obj, const char* key, std::uint32_t* out) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    *out = 0;
    return true;
  }
  if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
      it->get<std::int64_t>() > std::numeric_limits<std::uint32_t>::max()) {
    return false;
  }
  *out = it->get<std::uint32_t>();
  return true;
}

std::optional<std::string> outlierToJson(const fwd::v1::Upstream& u) {
  if (!u.has_outlier_detection()) {
    return std::nullopt;
  }
  const fwd::v1::OutlierDetection& od = u.outlier_detection();
  nlohmann::json obj = {{"disabled", od.disabled()},
                        {"consecutive_failures", od.consecutive_failures()}};
  putNanos(obj, "base_ejection_time_ns", od.has_base_ejection_time(), od.base_ejection_time());
  putNanos(obj, "max_ejection_time_ns", od.has_max_ejection_time(), od.max_ejection_time());
  return obj.dump();
}

absl::Status outlierFromJson(const std::string& text, fwd::v1::OutlierDetection* out) {
  absl::StatusOr<nlohmann::json> obj = objectFromJson(
      text, "outlier_detection",
      {"disabled", "consecutive_failures", "base_ejection_time_ns", "max_ejection_time_ns"});
  if (!obj.ok()) {
    return obj.status();
  }
  std::uint32_t failures = 0;
  auto disabled = obj->find("disabled");
  bool ok =
      (disabled == obj->end() || disabled->is_boolean()) &&
      getUint32(*obj, "consecutive_failures", &failures) &&
      getNanos(*obj, "base_ejection_time_ns", [&] { return out->mutable_base_ejection_time(); }) &&
      getNanos(*obj, "max_ejection_time_ns", [&] { return out->mutable_max_ejection_time(); });
  if (!ok) {
    return absl::DataLossError("stored outlier_detection column is malformed: " + text);
  }
  out->set_disabled(disabled != obj->end() && disabled->get<bool>());
  out->set_consecutive_failures(failures);
  return absl::OkStatus();
}

std::optional<std::string> healthCheckToJson(const fwd::v1::Upstream& u) {
  if (!u.has_health_check()) {
    return std::nullopt;
  }
  const fwd::v1::HealthCheck& hc = u.health_check();
  nlohmann::json obj = {{"path", hc.path()},
                        {"unhealthy_threshold", hc.unhealthy_threshold()},
                        {"healthy_threshold", hc.healthy_threshold()}};
  putNanos(obj, "interval_ns", hc.has_interval(), hc.interval());
  putNanos(obj, "timeout_ns", hc.has_timeout(), hc.timeout());
  return obj.dump();
}

absl::Status healthCheckFromJson(const std::string& text, fwd::v1::HealthCheck* out) {
  absl::StatusOr<nlohmann::json> obj = objectFromJson(
      text, "health_check",
      {"path", "interval_ns", "timeout_ns", "unhealthy_threshold", "healthy_threshold"});
  if (!obj.ok()) {
    return obj.status();
  }
  std::uint32_t unhealthy = 0;
  std::uint32_t healthy = 0;
  auto path = obj->find("path");
  bool ok = (path == obj->end() || path->is_string()) &&
            getUint32(*obj, "unhealthy_threshold", &unhealthy) &&
            getUint32(*obj, "healthy_threshold", &healthy) &&
            getNanos(*obj, "interval_ns", [&] { return out->mutable_interval(); }) &&
            getNanos(*obj, "timeout_ns", [&] { return out->mutable_timeout(); });
  if (!ok) {
    return absl::DataLossError("stored health_check column is malformed: " + text);
  }
  if (path != obj->end()) {
    out->set_path(path->get<std::string>());
  }
  out->set_unhealthy_threshold(unhealthy);
  out->set_healthy_threshold(healthy);
  return absl::OkStatus();
}

std::optional<std::string> timeoutsToJson(const fwd::v1::Route& r) {
  if (!r.has_timeouts()) {
    return std::nullopt;
  }
  const fwd::v1::Timeouts& t = r.timeouts();
  nlohmann::json obj = nlohmann::json::object();
  putNanos(obj, "connect_ns", t.has_connect(), t.connect());
  putNanos(obj, "first_byte_ns", t.has_first_byte(), t.first_byte());
  putNanos(obj, "stream_first_byte_ns", t.has_stream_first_byte(), t.stream_first_byte());
  putNanos(obj, "idle_ns", t.has_idle(), t.idle());
  putNanos(obj, "total_ns", t.has_total(), t.total());
  return obj.dump();
}

absl::Status timeoutsFromJson(const std::string& text, fwd::v1::Timeouts* out) {
  absl::StatusOr<nlohmann::json> obj = objectFromJson(
      text, "timeouts",
      {"connect_ns", "first_byte_ns", "stream_first_byte_ns", "idle_ns", "total_ns"});
  if (!obj.ok()) {
    return obj.status();
  }
  bool ok =
      getNanos(*obj, "connect_ns", [&] { return out->mutable_connect(); }) &&
      getNanos(*obj, "first_byte_ns", [&] { return out->mutable_first_byte(); }) &&
      getNanos(*obj, "stream_first_byte_ns", [&] { return out->mutable_stream_first_byte(); }) &&
      getNanos(*obj, "idle_ns", [&] { return out->mutable_idle(); }) &&
      getNanos(*obj, "total_ns", [&] { return out->mutable_total(); });
  if (!ok) {
    return absl::DataLossError("stored timeouts column is malformed: " + text);
  }
  return absl::OkStatus();
}

// The provider column (migration 13): the provider fields of fwd.v1.Upstream as protobuf's JSON.
std::optional<std::string> providerToJson(const fwd::v1::Upstream& u) {
  if (u.provider() == fwd::v1::PROVIDER_UNSPECIFIED && !u.has_azure() && !u.has_replicate()) {
    return std::nullopt;
  }
  fwd::v1::Upstream fields;
  fields.set_provider(u.provider());
  if (u.has_azure()) {
    *fields.mutable_azure() = u.azure();
  }
  if (u.has_replicate()) {
    *fields.mutable_replicate() = u.replicate();
  }
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(fields, &out, options);
  return out;
}

absl::Status providerFromJson(const std::string& text, fwd::v1::Upstream& u) {
  fwd::v1::Upstream fields;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // written by a newer build
  if (!google::protobuf::util::JsonStringToMessage(text, &fields, options).ok()) {
    return absl::DataLossError("stored provider column is malformed: " + text);
  }
  u.set_provider(fields.provider());
  if (fields.has_azure()) {
    *u.mutable_azure() = std::move(*fields.mutable_azure());
  }
  if (fields.has_replicate()) {
    *u.mutable_replicate() = std::move(*fields.mutable_replicate());
  }
  return absl::OkStatus();
}

std::optional<std::string> limitsToJson(bool has, const fwd::v1::Limits& limits) {
  if (!has) {
    return std::nullopt;
  }
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // A Limits message always prints (every field it has is a scalar or a list).
  (void)google::protobuf::util::MessageToJsonString(limits, &out, options);
  return out;
}

absl::Status limitsFromJson(const std::string& text, fwd::v1::Limits* out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // written by a newer build
  if (!google::protobuf::util::JsonStringToMessage(text, out, options).ok()) {
    return absl::DataLossError("stored limits column is malformed: " + text);
  }
  return absl::OkStatus();
}

// The edits column (migration 7), with "stream_mode" ("passthrough", "stream", "non-stream")
// added since.
std::optional<std::string> editsToJson(bool has, const fwd::v1::Edits& e) {
  if (!has) {
    return std::nullopt;
  }
  nlohmann::json obj = nlohmann::json::object();
  if (e.has_max_tokens_cap()) {
    obj["max_tokens_cap"] = e.max_tokens_cap();
  }
  if (e.stop_size() > 0) {
    obj["stop"] = std::vector<std::string>(e.stop().begin(), e.stop().end());
  }
  if (e.has_drop_empty_messages()) {
    obj["drop_empty_messages"] = e.drop_empty_messages();
  }
  if (e.has_strip_think()) {
    obj["strip_think"] = e.strip_think();
  }
  if (e.has_answer_prefix()) {
    obj["answer_prefix"] = e.answer_prefix();
  }
  if (e.has_stream_mode()) {
    obj["stream_mode"] = common::config::streamModeName(e.stream_mode());
  }
  return obj.dump();
}

absl::Status editsFromJson(const std::string& text, fwd::v1::Edits* out) {
  absl::StatusOr<nlohmann::json> obj =
      objectFromJson(text, "edits",
                     {"max_tokens_cap", "stop", "drop_empty_messages", "strip_think",
                      "answer_prefix", "stream_mode"});
  if (!obj.ok()) {
    return obj.status();
  }
  std::uint32_t cap = 0;
  bool ok = getUint32(*obj, "max_tokens_cap", &cap);
  for (const char* flag : {"drop_empty_messages", "strip_think"}) {
    ok = ok && (!obj->contains(flag) || (*obj)[flag].is_boolean());
  }
  ok = ok && (!obj->contains("stop") || (*obj)["stop"].is_array()) &&
       (!obj->contains("answer_prefix") || (*obj)["answer_prefix"].is_string());
  std::optional<int> stream_mode;
  if (ok && obj->contains("stream_mode")) {
    const nlohmann::json& mode = (*obj)["stream_mode"];
    stream_mode =
        mode.is_string() ? common::config::parseStreamMode(mode.get<std::string>()) : std::nullopt;
    ok = stream_mode.has_value();
  }
  if (!ok) {
    return absl::DataLossError("stored edits column is malformed: " + text);
  }
  if (obj->contains("max_tokens_cap")) {
    out->set_max_tokens_cap(cap);
  }
  if (obj->contains("stop")) {
    for (const nlohmann::json& word : (*obj)["stop"]) {
      out->add_stop(word.get<std::string>());
    }
  }
  if (obj->contains("drop_empty_messages")) {
    out->set_drop_empty_messages((*obj)["drop_empty_messages"].get<bool>());
  }
  if (obj->contains("strip_think")) {
    out->set_strip_think((*obj)["strip_think"].get<bool>());
  }
  if (obj->contains("answer_prefix")) {
    out->set_answer_prefix((*obj)["answer_prefix"].get<std::string>());
  }
  if (stream_mode) {
    out->set_stream_mode(static_cast<fwd::v1::StreamMode>(*stream_mode));
  }
  return absl::OkStatus();
}

std::string modelsToJson(const google::protobuf::RepeatedPtrField<std::string>& models) {
  nlohmann::json array = nlohmann::json::array();
  for (const std::string& m : models) {
    array.push_back(m);
  }
  return array.dump();
}

absl::Status modelsFromJson(const std::string& text,
                            google::protobuf::RepeatedPtrField<std::string>* out) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) {
    return absl::DataLossError("stored models column is not a JSON array: " + text);
  }
  for (const nlohmann::json& m : parsed) {
    if (!m.is_string()) {
      return absl::DataLossError("stored models column holds a non-string: " + text);
    }
    out->Add(m.get<std::string>());
  }
  return absl::OkStatus();
}

std::string matchesToJson(const google::protobuf::RepeatedPtrField<fwd::v1::ModelMatch>& models) {
  nlohmann::json array = nlohmann::json::array();
  for (const fwd::v1::ModelMatch& m : models) {
    switch (m.kind_case()) {
      case fwd::v1::ModelMatch::kExact:
        array.push_back({{"exact", m.exact()}});
        break;
      case fwd::v1::ModelMatch::kKeyword:
        array.push_back({{"keyword", m.keyword()}});
        break;
      case fwd::v1::ModelMatch::kGlob:
        array.push_back({{"glob", m.glob()}});
        break;
      case fwd::v1::ModelMatch::KIND_NOT_SET:
        // Validation rejects these before they reach the store.
        array.push_back(nlohmann::json::object());
        break;
    }
  }
  return array.dump();
}

absl::Status matchesFromJson(const std::string& text,
                             google::protobuf::RepeatedPtrField<fwd::v1::ModelMatch>* out) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) {
    return absl::DataLossError("stored route models column is not a JSON array: " + text);
  }
  for (const nlohmann::json& m : parsed) {
    if (!m.is_object() || m.size() != 1 || !m.begin().value().is_string()) {
      return absl::DataLossError("stored route models column holds a malformed match: " + text);
    }
    const std::string& kind = m.begin().key();
    std::string value = m.begin().value().get<std::string>();
    fwd::v1::ModelMatch* match = out->Add();
    if (kind == "exact") {
      match->set_exact(std::move(value));
    } else if (kind == "keyword") {
      match->set_keyword(std::move(value));
    } else if (kind == "glob") {
      match->set_glob(std::move(value));
    } else {
      return absl::DataLossError("stored route models column holds an unknown match kind: " + text);
    }
  }
  return absl::OkStatus();
}

std::string retryOnToJson(const fwd::v1::RetryPolicy& retry) {
  nlohmann::json array = nlohmann::json::array();
  for (int v : retry.retry_on()) {
    array.push_back(fwd::v1::RetryOn_Name(static_cast<fwd::v1::RetryOn>(v)));
  }
  return array.dump();
}

absl::Status retryOnFromJson(const std::string& text, fwd::v1::RetryPolicy* out) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) {
    return absl::DataLossError("stored retry_on column is not a JSON array: " + text);
  }
  for (const nlohmann::json& v : parsed) {
    fwd::v1::RetryOn value = fwd::v1::RETRY_ON_UNSPECIFIED;
    if (!v.is_string() || !fwd::v1::RetryOn_Parse(v.get<std::string>(), &value)) {
      return absl::DataLossError("stored retry_on column holds an unknown value: " + text);
    }
    out->add_retry_on(value);
  }
  return absl::OkStatus();
}

absl::StatusOr<fwd::v1::Route> routeFromRow(const Statement& row) {
  fwd::v1::Route r;
  r.set_id(static_cast<std::uint64_t>(row.columnInt(0)));
  r.set_name(row.columnText(1));
  r.set_path_prefix(row.columnText(2));
  absl::Status s = matchesFromJson(row.columnText(3), r.mutable_models());
  if (s.ok()) {
    s = modelsFromJson(row.columnText(4), r.mutable_upstreams());
  }
  fwd::v1::BalanceStrategy strategy = fwd::v1::BALANCE_STRATEGY_UNSPECIFIED;
  if (s.ok() && !fwd::v1::BalanceStrategy_Parse(row.columnText(5), &strategy)) {
    s = absl::DataLossError("stored route strategy is unknown: " + row.columnText(5));
  }
  r.set_strategy(strategy);
  if (s.ok()) {
    s = modelsFromJson(row.columnText(6), r.mutable_fallback_models());
  }
  r.set_rewrite_model(row.columnText(7));
  fwd::v1::RetryPolicy retry;
  retry.set_retries(static_cast<std::uint32_t>(row.columnInt(8)));
  if (s.ok()) {
    s = retryOnFromJson(row.columnText(9), &retry);
  }
  readNanosColumn(row, 14, [&] { return retry.mutable_backoff_base(); });
  readNanosColumn(row, 15, [&] { return retry.mutable_backoff_max(); });
  if (s.ok() && !row.columnIsNull(16)) {
    s = timeoutsFromJson(row.columnText(16), r.mutable_timeouts());
  }
  if (s.ok() && !row.columnIsNull(17)) {
    s = editsFromJson(row.columnText(17), r.mutable_edits());
  }
  if (s.ok() && !row.columnIsNull(18)) {
    s = limitsFromJson(row.columnText(18), r.mutable_limits());
  }
  if (!s.ok()) {
    return s;
  }
  r.set_limits_shared(row.columnInt(19) != 0);
  r.set_log_bodies(row.columnInt(20) != 0);
  // A present policy, even an empty one (retries 0: no failover), is not the same as none
  // (plain failover over the group).
  if (row.columnInt(13) != 0) {
    *r.mutable_retry() = std::move(retry);
  }
  r.set_priority(static_cast<std::int32_t>(row.columnInt(10)));
  setTimestamp(row.columnInt(11), r.mutable_create_time());
  setTimestamp(row.columnInt(12), r.mutable_update_time());
  return r;
}

/// Binds ?2..?10 and ?12..?19 of an INSERT or UPDATE of a route (?1 is the name or id, ?11 the
/// time), in kRouteColumns order after the name.
void bindRouteFields(Statement& q, const fwd::v1::Route& r) {
  const fwd::v1::RetryPolicy& retry = r.retry();
  q.bind(2, r.path_prefix())
      .bind(3, matchesToJson(r.models()))
      .bind(4, modelsToJson(r.upstreams()))
      .bind(5, fwd::v1::BalanceStrategy_Name(r.strategy()))
      .bind(6, modelsToJson(r.fallback_models()))
      .bind(7, r.rewrite_model())
      .bind(8, std::int64_t{retry.retries()})
      .bind(9, retryOnToJson(retry))
      .bind(10, std::int64_t{r.priority()})
      .bind(12, std::int64_t{r.has_retry() ? 1 : 0})
      .bind(13, nanosColumn(retry.has_backoff_base(), retry.backoff_base()))
      .bind(14, nanosColumn(retry.has_backoff_max(), retry.backoff_max()))
      .bind(15, timeoutsToJson(r))
      .bind(16, editsToJson(r.has_edits(), r.edits()))
      .bind(17, limitsToJson(r.has_limits(), r.limits()))
      .bind(18, std::int64_t{r.limits_shared() ? 1 : 0})
      .bind(19, std::int64_t{r.log_bodies() ? 1 : 0});
}

absl::StatusOr<fwd::v1::Upstream> upstreamFromRow(const Statement& row) {
  fwd::v1::Upstream u;
  u.set_id(static_cast<std::uint64_t>(row.columnInt(0)));
  u.set_name(row.columnText(1));
  u.set_base_url(row.columnText(2));
  if (!row.columnIsNull(3)) {
    u.set_api_key(row.columnText(3));
  } else if (!row.columnIsNull(4)) {
    u.set_api_key_env(row.columnText(4));
  }
  absl::Status models = modelsFromJson(row.columnText(5), u.mutable_models());
  if (!models.ok()) {
    return models;
  }
  u.set_priority(static_cast<std::int32_t>(row.columnInt(6)));
  u.set_weight(static_cast<std::uint32_t>(row.columnInt(7)));
  setDuration(row.columnInt(8), u.mutable_timeout());
  u.set_insecure_skip_verify(row.columnInt(9) != 0);
  setTimestamp(row.columnInt(10), u.mutable_create_time());
  setTimestamp(row.columnInt(11), u.mutable_update_time());
  absl::Status s = modelsFromJson(row.columnText(12), u.mutable_deny_models());
  readNanosColumn(row, 13, [&] { return u.mutable_connect_timeout(); });
  readNanosColumn(row, 14, [&] { return u.mutable_first_byte_timeout(); });
  readNanosColumn(row, 15, [&] { return u.mutable_stream_first_byte_timeout(); });
  readNanosColumn(row, 16, [&] { return u.mutable_idle_timeout(); });
  if (s.ok() && !row.columnIsNull(17)) {
    s = outlierFromJson(row.columnText(17), u.mutable_outlier_detection());
  }
  if (s.ok() && !row.columnIsNull(18)) {
    s = healthCheckFromJson(row.columnText(18), u.mutable_health_check());
  }
  if (s.ok() && !row.columnIsNull(19)) {
    s = editsFromJson(row.columnText(19), u.mutable_edits());
  }
  if (s.ok() && !row.columnIsNull(20)) {
    s = providerFromJson(row.columnText(20), u);
  }
  if (!s.ok()) {
    return s;
  }
  return u;
}

absl::StatusOr<fwd::v1::Key> keyFromRow(const Statement& row) {
  fwd::v1::Key k;
  k.set_id(static_cast<std::uint64_t>(row.columnInt(0)));
  k.set_name(row.columnText(1));
  k.set_secret_sha256(row.columnText(2));
  k.set_display_prefix(row.columnText(3));
  absl::Status models = modelsFromJson(row.columnText(4), k.mutable_models());
  if (!models.ok()) {
    return models;
  }
  setTimestamp(row.columnInt(5), k.mutable_create_time());
  if (!row.columnIsNull(6)) {
    setTimestamp(row.columnInt(6), k.mutable_revoke_time());
  }
  if (!row.columnIsNull(7) && !row.columnIsNull(8)) {
    k.set_previous_secret_sha256(row.columnText(7));
    setTimestamp(row.columnInt(8), k.mutable_previous_secret_expire_time());
  }
  if (!row.columnIsNull(9)) {
    setTimestamp(row.columnInt(9), k.mutable_update_time());
  }
  k.set_errors_as_200(row.columnInt(10) != 0);
  k.set_log_bodies(row.columnInt(14) != 0);
  for (auto [column, field] : {std::pair{11, k.mutable_allow_ips()}, {12, k.mutable_deny_ips()}}) {
    absl::Status ips = modelsFromJson(row.columnText(column), field);
    if (!ips.ok()) {
      return ips;
    }
  }
  if (!row.columnIsNull(13)) {
    absl::Status limits = limitsFromJson(row.columnText(13), k.mutable_limits());
    if (!limits.ok()) {
      return limits;
    }
  }
  return k;
}

std::optional<std::string> apiKeyColumn(const fwd::v1::Upstream& u) {
  if (u.credential_case() == fwd::v1::Upstream::kApiKey) {
    return u.api_key();
  }
  return std::nullopt;
}

std::optional<std::string> apiKeyEnvColumn(const fwd::v1::Upstream& u) {
  if (u.credential_case() == fwd::v1::Upstream::kApiKeyEnv) {
    return u.api_key_env();
  }
  return std::nullopt;
}

/// Binds ?2..?9 and ?11..?19 of an INSERT or UPDATE of an upstream (?1 is the name or id, ?10
/// the time), in kUpstreamColumns order after the name.
void bindUpstreamFields(Statement& q, const fwd::v1::Upstream& u) {
  q.bind(2, u.base_url())
      .bind(3, apiKeyColumn(u))
      .bind(4, apiKeyEnvColumn(u))
      .bind(5, modelsToJson(u.models()))
      .bind(6, std::int64_t{u.priority()})
      .bind(7, std::int64_t{u.weight()})
      .bind(8, durationNanos(u.timeout()))
      .bind(9, std::int64_t{u.insecure_skip_verify() ? 1 : 0})
      .bind(11, modelsToJson(u.deny_models()))
      .bind(12, nanosColumn(u.has_connect_timeout(), u.connect_timeout()))
      .bind(13, nanosColumn(u.has_first_byte_timeout(), u.first_byte_timeout()))
      .bind(14, nanosColumn(u.has_stream_first_byte_timeout(), u.stream_first_byte_timeout()))
      .bind(15, nanosColumn(u.has_idle_timeout(), u.idle_timeout()))
      .bind(16, outlierToJson(u))
      .bind(17, healthCheckToJson(u))
      .bind(18, editsToJson(u.has_edits(), u.edits()))
      .bind(19, providerToJson(u));
}

absl::Status upstreamNotFound(std::string_view name) {
  return absl::NotFoundError("upstream \"" + std::string(name) + "\" not found");
}

absl::Status routeNotFound(std::string_view name) {
  return absl::NotFoundError("route \"" + std::string(name) + "\" not found");
}

absl::Status keyNotFound(std::string_view name) {
  return absl::NotFoundError("key \"" + std::string(name) + "\" not found");
}

// The tail of every create and update: run the prepared write, bump the config version in the
// same transaction, and read the row back as the admin API returns it.
template <typename T, typename Bump, typename Read>
absl::Status finishWrite(Statement& q, Bump bump, Read read, T& out) {
  if (absl::Status ran = q.run(); !ran.ok()) {
    return ran;
  }
  if (absl::StatusOr<std::uint64_t> v = bump(); !v.ok()) {
    return v.status();
  }
  absl::StatusOr<T> row = read();
  if (!row.ok()) {
    return row.status();
  }
  out = std::move(*row);
  return absl::OkStatus();
}

// The row of `table` named `name`, read with `from_row` (which also fixes the result type);
// `not_found` when there is none.
template <typename FromRow>
auto findByName(Database& db, const char* columns, const char* table, std::string_view name,
                absl::Status (*not_found)(std::string_view), FromRow from_row)
    -> decltype(from_row(std::declval<const Statement&>())) {
  absl::StatusOr<Statement> q =
      db.prepare(std::string("SELECT ") + columns + " FROM " + table + " WHERE name = ?1");
  if (!q.ok()) {
    return q.status();
  }
  q->bind(1, name);
  absl::StatusOr<bool> row = q->step();
  if (!row.ok()) {
    return row.status();
  }
  if (!*row) {
    return not_found(name);
  }
  return from_row(*q);
}

}  // namespace

const char* tokenKindName(TokenKind kind) { return kind == TokenKind::kAdmin ? "admin" : "node"; }

int SqliteStore::schemaVersion() { return static_cast<int>(kMigrations.size()); }

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                               Clock clock) {
  absl::StatusOr<std::unique_ptr<Database>> db = Database::open(path);
  if (!db.ok()) {
    return db.status();
  }
  // The file holds upstream API keys: owner only. SQLite gives its -wal and -shm files the
  // same mode.
  if (::chmod(path.c_str(), 0600) != 0) {
    return absl::PermissionDeniedError("cannot chmod 0600 " + path);
  }
  if (!clock) {
    clock = [] { return std::chrono::system_clock::now(); };
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(*db), std::move(clock)));
  std::lock_guard<std::mutex> lock(store->mu_);
  absl::Status s = store->configure();
  if (s.ok()) {
    s = store->migrate();
  }
  if (!s.ok()) {
    return s;
  }
  return store;
}

absl::Status SqliteStore::configure() {
  // busy_timeout first: switching to WAL itself may wait for another process's lock.
  absl::Status s = db_->exec("PRAGMA busy_timeout = 5000");
  if (!s.ok()) {
    return s;
  }
  absl::StatusOr<Statement> wal = db_->prepare("PRAGMA journal_mode = WAL");
  if (!wal.ok()) {
    return wal.status();
  }
  absl::StatusOr<bool> row = wal->step();
  if (!row.ok()) {
    return row.status();
  }
  if (!*row || wal->columnText(0) != "wal") {
    return absl::FailedPreconditionError(
        "cannot enable WAL journal mode on the database (is it on a network filesystem?)");
  }
  for (const char* pragma : {"PRAGMA foreign_keys = ON", "PRAGMA synchronous = FULL"}) {
    s = db_->exec(pragma);
    if (!s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::migrate() {
  return inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> q = db_->prepare("PRAGMA user_version");
    if (!q.ok()) {
      return q.status();
    }
    absl::StatusOr<bool> row = q->step();
    if (!row.ok()) {
      return row.status();
    }
    std::int64_t current = *row ? q->columnInt(0) : 0;
    const auto known = static_cast<std::int64_t>(kMigrations.size());
    if (current > known) {
      return absl::FailedPreconditionError("database schema version " + std::to_string(current) +
                                           " is newer than this " + "fwd-controlplane knows (" +
                                           std::to_string(known) + "): upgrade fwd-controlplane");
    }
    for (std::int64_t i = current; i < known; ++i) {
      absl::Status s = db_->exec(kMigrations[static_cast<size_t>(i)]);
      if (!s.ok()) {
        return absl::Status(s.code(), "schema migration " + std::to_string(i + 1) +
                                          " failed: " + std::string(s.message()));
      }
    }
    if (current == known) {
      return absl::OkStatus();
    }
    // PRAGMA takes no bound parameters; the value is our own integer.
    return db_->exec("PRAGMA user_version = " + std::to_string(known));
  });
}

absl::Status SqliteStore::inWriteTransaction(const std::function<absl::Status()>& body) {
  absl::Status s = db_->exec("BEGIN IMMEDIATE");
  if (!s.ok()) {
    return s;
  }
  s = body();
  if (s.ok()) {
    s = db_->exec("COMMIT");
    if (s.ok()) {
      return s;
    }
  }
  // Nothing better to do if the rollback itself fails; the original error is what matters.
  (void)db_->exec("ROLLBACK");
  return s;
}

absl::Status SqliteStore::inReadTransaction(const std::function<absl::Status()>& body) {
  absl::Status s = db_->exec("BEGIN");
  if (!s.ok()) {
    return s;
  }
  s = body();
  absl::Status end = db_->exec(s.ok() ? "COMMIT" : "ROLLBACK");
  return s.ok() ? end : s;
}

absl::StatusOr<std::uint64_t> SqliteStore::bumpVersion() {
  absl::StatusOr<Statement> q = db_->prepare(
      "UPDATE meta SET value = value + 1 WHERE key = 'config_version' RETURNING value");
  if (!q.ok()) {
    return q.status();
  }
  absl::StatusOr<bool> row = q->step();
  if (!row.ok()) {
    return row.status();
  }
  if (!*row) {
    return absl::DataLossError("meta table has no config_version row");
  }
  auto v = static_cast<std::uint64_t>(q->columnInt(0));
  absl::Status done = q->run();
  if (!done.ok()) {
    return done;
  }
  return v;
}

absl::StatusOr<std::uint64_t> SqliteStore::readVersion() {
  absl::StatusOr<Statement> q = db_->prepare("SELECT value FROM meta WHERE key = 'config_version'");
  if (!q.ok()) {
    return q.status();
  }
  absl::StatusOr<bool> row = q->step();
  if (!row.ok()) {
    return row.status();
  }
  if (!*row) {
    return absl::DataLossError("meta table has no config_version row");
  }
  return static_cast<std::uint64_t>(q->columnInt(0));
}

std::int64_t SqliteStore::nowMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(clock_().time_since_epoch()).count();
}

absl::StatusOr<std::uint64_t> SqliteStore::version() {
  std::lock_guard<std::mutex> lock(mu_);
  return readVersion();
}

absl::StatusOr<fwd::v1::Upstream> SqliteStore::findUpstream(std::string_view name) {
  return findByName(*db_, kUpstreamColumns, "upstreams", name, upstreamNotFound, upstreamFromRow);
}

absl::StatusOr<std::vector<fwd::v1::Upstream>> SqliteStore::selectUpstreams() {
  absl::StatusOr<Statement> q = db_->prepare(std::string("SELECT ") + kUpstreamColumns +
                                             " FROM upstreams ORDER BY priority, id");
  if (!q.ok()) {
    return q.status();
  }
  std::vector<fwd::v1::Upstream> out;
  for (;;) {
    absl::StatusOr<bool> row = q->step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return out;
    }
    absl::StatusOr<fwd::v1::Upstream> u = upstreamFromRow(*q);
    if (!u.ok()) {
      return u.status();
    }
    out.push_back(std::move(*u));
  }
}

absl::StatusOr<std::vector<fwd::v1::Key>> SqliteStore::selectKeys(bool active_only) {
  std::string sql = std::string("SELECT ") + kKeyColumns + " FROM keys" +
                    (active_only ? " WHERE revoke_time_us IS NULL" : "") + " ORDER BY id";
  absl::StatusOr<Statement> q = db_->prepare(sql);
  if (!q.ok()) {
    return q.status();
  }
  std::vector<fwd::v1::Key> out;
  for (;;) {
    absl::StatusOr<bool> row = q->step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return out;
    }
    absl::StatusOr<fwd::v1::Key> k = keyFromRow(*q);
    if (!k.ok()) {
      return k.status();
    }
    out.push_back(std::move(*k));
  }
}

absl::StatusOr<fwd::v1::Upstream> SqliteStore::createUpstream(const fwd::v1::Upstream& upstream) {
  std::lock_guard<std::mutex> lock(mu_);
  fwd::v1::Upstream created;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<fwd::v1::Upstream> existing = findUpstream(upstream.name());
    if (existing.ok()) {
      return absl::AlreadyExistsError("upstream \"" + upstream.name() + "\" already exists");
    }
    if (existing.status().code() != absl::StatusCode::kNotFound) {
      return existing.status();
    }
    std::int64_t now = nowMicros();
    absl::StatusOr<Statement> q = db_->prepare(
        "INSERT INTO upstreams (name, base_url, api_key, api_key_env, models, priority, weight, "
        "timeout_ns, insecure_skip_verify, create_time_us, update_time_us, deny_models, "
        "connect_timeout_ns, first_byte_timeout_ns, stream_first_byte_timeout_ns, "
        "idle_timeout_ns, outlier_detection, health_check, edits, provider) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
        "?18, ?19)");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, upstream.name()).bind(10, now);
    bindUpstreamFields(*q, upstream);
    return finishWrite(
        *q, [&] { return bumpVersion(); }, [&] { return findUpstream(upstream.name()); }, created);
  });
  if (!s.ok()) {
    return s;
  }
  return created;
}

absl::StatusOr<fwd::v1::Upstream> SqliteStore::getUpstream(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  return findUpstream(name);
}

absl::StatusOr<std::vector<fwd::v1::Upstream>> SqliteStore::listUpstreams() {
  std::lock_guard<std::mutex> lock(mu_);
  return selectUpstreams();
}

absl::StatusOr<fwd::v1::Upstream> SqliteStore::updateUpstream(std::string_view name,
                                                              const UpstreamMutator& mutate) {
  std::lock_guard<std::mutex> lock(mu_);
  fwd::v1::Upstream updated;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<fwd::v1::Upstream> current = findUpstream(name);
    if (!current.ok()) {
      return current.status();
    }
    fwd::v1::Upstream next = *current;
    absl::Status m = mutate(next);
    if (!m.ok()) {
      return m;
    }
    absl::StatusOr<Statement> q = db_->prepare(
        "UPDATE upstreams SET base_url = ?2, api_key = ?3, api_key_env = ?4, models = ?5, "
        "priority = ?6, weight = ?7, timeout_ns = ?8, insecure_skip_verify = ?9, "
        "update_time_us = ?10, deny_models = ?11, connect_timeout_ns = ?12, "
        "first_byte_timeout_ns = ?13, stream_first_byte_timeout_ns = ?14, idle_timeout_ns = ?15, "
        "outlier_detection = ?16, health_check = ?17, edits = ?18, provider = ?19 WHERE id = ?1");
    if (!q.ok()) {
      return q.status();
    }
    // id, name and create_time come from the stored row whatever the mutator did.
    q->bind(1, static_cast<std::int64_t>(current->id())).bind(10, nowMicros());
    bindUpstreamFields(*q, next);
    return finishWrite(
        *q, [&] { return bumpVersion(); }, [&] { return findUpstream(name); }, updated);
  });
  if (!s.ok()) {
    return s;
  }
  return updated;
}

absl::StatusOr<std::uint64_t> SqliteStore::deleteUpstream(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::uint64_t version = 0;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> used = db_->prepare(
        "SELECT routes.name FROM routes, json_each(routes.upstreams) "
        "WHERE json_each.value = ?1 ORDER BY routes.id LIMIT 1");
    if (!used.ok()) {
      return used.status();
    }
    used->bind(1, name);
    absl::StatusOr<bool> in_use = used->step();
    if (!in_use.ok()) {
      return in_use.status();
    }
    if (*in_use) {
      return absl::FailedPreconditionError("upstream \"" + std::string(name) +
                                           "\" is used by route \"" + used->columnText(0) +
                                           "\": remove it from the route first");
    }
    absl::StatusOr<Statement> q = db_->prepare("DELETE FROM upstreams WHERE name = ?1");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, name);
    absl::Status deleted = q->run();
    if (!deleted.ok()) {
      return deleted;
    }
    if (db_->changes() == 0) {
      return upstreamNotFound(name);
    }
    absl::StatusOr<std::uint64_t> v = bumpVersion();
    if (!v.ok()) {
      return v.status();
    }
    version = *v;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    return s;
  }
  return version;
}

absl::StatusOr<fwd::v1::Route> SqliteStore::findRoute(std::string_view name) {
  return findByName(*db_, kRouteColumns, "routes", name, routeNotFound, routeFromRow);
}

absl::StatusOr<std::vector<fwd::v1::Route>> SqliteStore::selectRoutes() {
  absl::StatusOr<Statement> q =
      db_->prepare(std::string("SELECT ") + kRouteColumns + " FROM routes ORDER BY priority, id");
  if (!q.ok()) {
    return q.status();
  }
  std::vector<fwd::v1::Route> out;
  for (;;) {
    absl::StatusOr<bool> row = q->step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return out;
    }
    absl::StatusOr<fwd::v1::Route> r = routeFromRow(*q);
    if (!r.ok()) {
      return r.status();
    }
    out.push_back(std::move(*r));
  }
}

absl::Status SqliteStore::checkRouteUpstreams(const fwd::v1::Route& route) {
  for (const std::string& upstream : route.upstreams()) {
    absl::StatusOr<Statement> q = db_->prepare("SELECT 1 FROM upstreams WHERE name = ?1");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, upstream);
    absl::StatusOr<bool> row = q->step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return absl::InvalidArgumentError("route \"" + route.name() + "\": upstream \"" + upstream +
                                        "\" does not exist (see fwdctl upstream list)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<fwd::v1::Route> SqliteStore::createRoute(const fwd::v1::Route& route) {
  std::lock_guard<std::mutex> lock(mu_);
  fwd::v1::Route created;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<fwd::v1::Route> existing = findRoute(route.name());
    if (existing.ok()) {
      return absl::AlreadyExistsError("route \"" + route.name() + "\" already exists");
    }
    if (existing.status().code() != absl::StatusCode::kNotFound) {
      return existing.status();
    }
    absl::Status upstreams = checkRouteUpstreams(route);
    if (!upstreams.ok()) {
      return upstreams;
    }
    absl::StatusOr<Statement> q = db_->prepare(
        "INSERT INTO routes (name, path_prefix, models, upstreams, strategy, fallback_models, "
        "rewrite_model, retries, retry_on, priority, create_time_us, update_time_us, has_retry, "
        "retry_backoff_base_ns, retry_backoff_max_ns, timeouts, edits, limits, limits_shared, "
        "log_bodies) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14, "
        "?15, ?16, ?17, ?18, ?19)");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, route.name()).bind(11, nowMicros());
    bindRouteFields(*q, route);
    return finishWrite(
        *q, [&] { return bumpVersion(); }, [&] { return findRoute(route.name()); }, created);
  });
  if (!s.ok()) {
    return s;
  }
  return created;
}

absl::StatusOr<fwd::v1::Route> SqliteStore::getRoute(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  return findRoute(name);
}

absl::StatusOr<std::vector<fwd::v1::Route>> SqliteStore::listRoutes() {
  std::lock_guard<std::mutex> lock(mu_);
  return selectRoutes();
}

absl::StatusOr<fwd::v1::Route> SqliteStore::updateRoute(std::string_view name,
                                                        const RouteMutator& mutate) {
  std::lock_guard<std::mutex> lock(mu_);
  fwd::v1::Route updated;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<fwd::v1::Route> current = findRoute(name);
    if (!current.ok()) {
      return current.status();
    }
    fwd::v1::Route next = *current;
    absl::Status m = mutate(next);
    if (!m.ok()) {
      return m;
    }
    next.set_name(current->name());
    absl::Status upstreams = checkRouteUpstreams(next);
    if (!upstreams.ok()) {
      return upstreams;
    }
    absl::StatusOr<Statement> q = db_->prepare(
        "UPDATE routes SET path_prefix = ?2, models = ?3, upstreams = ?4, strategy = ?5, "
        "fallback_models = ?6, rewrite_model = ?7, retries = ?8, retry_on = ?9, priority = ?10, "
        "update_time_us = ?11, has_retry = ?12, retry_backoff_base_ns = ?13, "
        "retry_backoff_max_ns = ?14, timeouts = ?15, edits = ?16, limits = ?17, "
        "limits_shared = ?18, log_bodies = ?19 WHERE id = ?1");
    if (!q.ok()) {
      return q.status();
    }
    // id, name and create_time come from the stored row whatever the mutator did.
    q->bind(1, static_cast<std::int64_t>(current->id())).bind(11, nowMicros());
    bindRouteFields(*q, next);
    return finishWrite(
        *q, [&] { return bumpVersion(); }, [&] { return findRoute(name); }, updated);
  });
  if (!s.ok()) {
    return s;
  }
  return updated;
}

absl::StatusOr<std::uint64_t> SqliteStore::deleteRoute(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::uint64_t version = 0;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> q = db_->prepare("DELETE FROM routes WHERE name = ?1");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, name);
    absl::Status deleted = q->run();
    if (!deleted.ok()) {
      return deleted;
    }
    if (db_->changes() == 0) {
      return routeNotFound(name);
    }
    absl::StatusOr<std::uint64_t> v = bumpVersion();
    if (!v.ok()) {
      return v.status();
    }
    version = *v;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    return s;
  }
  return version;
}

absl::StatusOr<fwd::v1::Key> SqliteStore::createKey(const fwd::v1::Key& key) {
  std::lock_guard<std::mutex> lock(mu_);
  fwd::v1::Key created;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> exists = db_->prepare("SELECT 1 FROM keys WHERE name = ?1");
    if (!exists.ok()) {
      return exists.status();
    }
    exists->bind(1, key.name());
    absl::StatusOr<bool> row = exists->step();
    if (!row.ok()) {
      return row.status();
    }
    if (*row) {
      return absl::AlreadyExistsError("key \"" + key.name() + "\" already exists");
    }
    absl::StatusOr<Statement> q = db_->prepare(
        "INSERT INTO keys (name, secret_sha256, display_prefix, models, create_time_us, "
        "errors_as_200, allow_ips, deny_ips, limits, log_bodies) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
        "?7, ?8, ?9, ?10) RETURNING " +
        std::string(kKeyColumns));
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, key.name())
        .bind(2, key.secret_sha256())
        .bind(3, key.display_prefix())
        .bind(4, modelsToJson(key.models()))
        .bind(5, nowMicros())
        .bind(6, std::int64_t{key.errors_as_200() ? 1 : 0})
        .bind(7, modelsToJson(key.allow_ips()))
        .bind(8, modelsToJson(key.deny_ips()))
        .bind(9, limitsToJson(key.has_limits(), key.limits()))
        .bind(10, std::int64_t{key.log_bodies() ? 1 : 0});
    absl::StatusOr<bool> inserted = q->step();
    if (!inserted.ok()) {
      return inserted.status();
    }
    absl::StatusOr<fwd::v1::Key> k = keyFromRow(*q);
    if (!k.ok()) {
      return k.status();
    }
    absl::Status done = q->run();
    if (!done.ok()) {
      return done;
    }
    created = std::move(*k);
    return bumpVersion().status();
  });
  if (!s.ok()) {
    return s;
  }
  return created;
}

absl::StatusOr<std::vector<fwd::v1::Key>> SqliteStore::listKeys() {
  std::lock_guard<std::mutex> lock(mu_);
  return selectKeys(/*active_only=*/false);
}

absl::StatusOr<fwd::v1::Key> SqliteStore::findKey(std::string_view name) {
  return findByName(*db_, kKeyColumns, "keys", name, keyNotFound, keyFromRow);
}

absl::StatusOr<fwd::v1::Key> SqliteStore::findActiveKey(std::string_view name) {
  absl::StatusOr<fwd::v1::Key> key = findKey(name);
  if (key.ok() && key->has_revoke_time()) {
    return absl::FailedPreconditionError("key \"" + std::string(name) + "\" is revoked");
  }
  return key;
}

absl::StatusOr<fwd::v1::Key> SqliteStore::getKey(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  return findKey(name);
}

absl::StatusOr<fwd::v1::Key> SqliteStore::updateKey(std::string_view name,
                                                    const KeyMutator& mutate) {
  std::lock_guard<std::mutex> lock(mu_);
  fwd::v1::Key updated;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<fwd::v1::Key> current = findActiveKey(name);
    if (!current.ok()) {
      return current.status();
    }
    fwd::v1::Key next = *current;
    if (absl::Status m = mutate(next); !m.ok()) {
      return m;
    }
    absl::StatusOr<Statement> q = db_->prepare(
        "UPDATE keys SET models = ?2, update_time_us = ?3, errors_as_200 = ?4, allow_ips = ?5, "
        "deny_ips = ?6, limits = ?7, log_bodies = ?8 WHERE id = ?1");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, static_cast<std::int64_t>(current->id()))
        .bind(2, modelsToJson(next.models()))
        .bind(3, nowMicros())
        .bind(4, std::int64_t{next.errors_as_200() ? 1 : 0})
        .bind(5, modelsToJson(next.allow_ips()))
        .bind(6, modelsToJson(next.deny_ips()))
        .bind(7, limitsToJson(next.has_limits(), next.limits()))
        .bind(8, std::int64_t{next.log_bodies() ? 1 : 0});
    return finishWrite(
        *q, [&] { return bumpVersion(); }, [&] { return findKey(name); }, updated);
  });
  if (!s.ok()) {
    return s;
  }
  return updated;
}

absl::StatusOr<fwd::v1::Key> SqliteStore::rotateKey(std::string_view name,
                                                    const std::string& secret_sha256,
                                                    const std::string& display_prefix,
                                                    std::chrono::microseconds grace) {
  std::lock_guard<std::mutex> lock(mu_);
  fwd::v1::Key rotated;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<fwd::v1::Key> current = findActiveKey(name);
    if (!current.ok()) {
      return current.status();
    }
    absl::StatusOr<Statement> q = db_->prepare(
        "UPDATE keys SET secret_sha256 = ?2, display_prefix = ?3, previous_secret_sha256 = ?4, "
        "previous_expire_time_us = ?5, update_time_us = ?6 WHERE id = ?1");
    if (!q.ok()) {
      return q.status();
    }
    std::int64_t now = nowMicros();
    // Only the secret being replaced keeps working for the grace period; one from an earlier
    // rotation stops now.
    std::optional<std::string> previous;
    std::optional<std::int64_t> expires;
    if (grace.count() > 0) {
      previous = current->secret_sha256();
      expires = now + grace.count();
    }
    q->bind(1, static_cast<std::int64_t>(current->id()))
        .bind(2, secret_sha256)
        .bind(3, display_prefix)
        .bind(4, previous)
        .bind(5, expires)
        .bind(6, now);
    return finishWrite(
        *q, [&] { return bumpVersion(); }, [&] { return findKey(name); }, rotated);
  });
  if (!s.ok()) {
    return s;
  }
  return rotated;
}

absl::StatusOr<fwd::v1::Key> SqliteStore::revokeKey(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  fwd::v1::Key revoked;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> find =
        db_->prepare(std::string("SELECT ") + kKeyColumns + " FROM keys WHERE name = ?1");
    if (!find.ok()) {
      return find.status();
    }
    find->bind(1, name);
    absl::StatusOr<bool> row = find->step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return keyNotFound(name);
    }
    if (!find->columnIsNull(6)) {
      return absl::FailedPreconditionError("key \"" + std::string(name) + "\" is already revoked");
    }
    absl::StatusOr<Statement> q = db_->prepare(
        "UPDATE keys SET revoke_time_us = ?2 WHERE "
        "name = ?1 RETURNING " +
        std::string(kKeyColumns));
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, name).bind(2, nowMicros());
    absl::StatusOr<bool> updated = q->step();
    if (!updated.ok()) {
      return updated.status();
    }
    absl::StatusOr<fwd::v1::Key> k = keyFromRow(*q);
    if (!k.ok()) {
      return k.status();
    }
    absl::Status done = q->run();
    if (!done.ok()) {
      return done;
    }
    revoked = std::move(*k);
    return bumpVersion().status();
  });
  if (!s.ok()) {
    return s;
  }
  return revoked;
}

absl::StatusOr<std::vector<fwd::v1::IpRule>> SqliteStore::selectIpRules() {
  absl::StatusOr<Statement> q =
      db_->prepare("SELECT cidr, action, create_time_us FROM ip_rules ORDER BY action, id");
  if (!q.ok()) {
    return q.status();
  }
  std::vector<fwd::v1::IpRule> out;
  for (;;) {
    absl::StatusOr<bool> row = q->step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return out;
    }
    fwd::v1::IpRule rule;
    rule.set_cidr(q->columnText(0));
    fwd::v1::IpRule::Action action;
    if (!fwd::v1::IpRule::Action_Parse(q->columnText(1), &action)) {
      return absl::DataLossError("ip_rules: unknown action \"" + q->columnText(1) + "\"");
    }
    rule.set_action(action);
    setTimestamp(q->columnInt(2), rule.mutable_create_time());
    out.push_back(std::move(rule));
  }
}

absl::StatusOr<fwd::v1::IpRule> SqliteStore::addIpRule(const fwd::v1::IpRule& rule) {
  std::lock_guard<std::mutex> lock(mu_);
  fwd::v1::IpRule added = rule;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> exists =
        db_->prepare("SELECT 1 FROM ip_rules WHERE cidr = ?1 AND action = ?2");
    if (!exists.ok()) {
      return exists.status();
    }
    const std::string& action = fwd::v1::IpRule::Action_Name(rule.action());
    exists->bind(1, rule.cidr()).bind(2, action);
    absl::StatusOr<bool> row = exists->step();
    if (!row.ok()) {
      return row.status();
    }
    if (*row) {
      return absl::AlreadyExistsError("ip rule " + action + " " + rule.cidr() + " already exists");
    }
    absl::StatusOr<Statement> q =
        db_->prepare("INSERT INTO ip_rules (cidr, action, create_time_us) VALUES (?1, ?2, ?3)");
    if (!q.ok()) {
      return q.status();
    }
    std::int64_t now = nowMicros();
    q->bind(1, rule.cidr()).bind(2, action).bind(3, now);
    if (absl::Status ran = q->run(); !ran.ok()) {
      return ran;
    }
    setTimestamp(now, added.mutable_create_time());
    return bumpVersion().status();
  });
  if (!s.ok()) {
    return s;
  }
  return added;
}

absl::StatusOr<std::vector<fwd::v1::IpRule>> SqliteStore::listIpRules() {
  std::lock_guard<std::mutex> lock(mu_);
  return selectIpRules();
}

absl::StatusOr<IpRuleRemoval> SqliteStore::removeIpRule(std::string_view cidr,
                                                        fwd::v1::IpRule::Action action) {
  std::lock_guard<std::mutex> lock(mu_);
  IpRuleRemoval out;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    bool any_action = action == fwd::v1::IpRule::ACTION_UNSPECIFIED;
    absl::StatusOr<Statement> q =
        db_->prepare(any_action ? "DELETE FROM ip_rules WHERE cidr = ?1"
                                : "DELETE FROM ip_rules WHERE cidr = ?1 AND action = ?2");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, cidr);
    if (!any_action) {
      q->bind(2, fwd::v1::IpRule::Action_Name(action));
    }
    if (absl::Status ran = q->run(); !ran.ok()) {
      return ran;
    }
    out.removed = static_cast<std::uint32_t>(db_->changes());
    if (out.removed == 0) {
      return absl::NotFoundError(
          "no ip rule for " + std::string(cidr) +
          (any_action ? "" : " with action " + fwd::v1::IpRule::Action_Name(action)));
    }
    absl::StatusOr<std::uint64_t> v = bumpVersion();
    if (!v.ok()) {
      return v.status();
    }
    out.version = *v;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    return s;
  }
  return out;
}

absl::StatusOr<std::vector<fwd::v1::Price>> SqliteStore::selectPrices(
    std::optional<std::string_view> model) {
  absl::StatusOr<Statement> q = db_->prepare(
      std::string("SELECT id, model, input_usd_micros, output_usd_micros, cached_input_usd_micros, "
                  "create_time_us, update_time_us FROM prices") +
      (model ? " WHERE model = ?1" : "") + " ORDER BY model");
  if (!q.ok()) {
    return q.status();
  }
  if (model) {
    q->bind(1, *model);
  }
  std::vector<fwd::v1::Price> out;
  for (;;) {
    absl::StatusOr<bool> row = q->step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return out;
    }
    fwd::v1::Price p;
    p.set_id(static_cast<std::uint64_t>(q->columnInt(0)));
    p.set_model(q->columnText(1));
    p.set_input_usd_micros(static_cast<std::uint64_t>(q->columnInt(2)));
    p.set_output_usd_micros(static_cast<std::uint64_t>(q->columnInt(3)));
    if (!q->columnIsNull(4)) {
      p.set_cached_input_usd_micros(static_cast<std::uint64_t>(q->columnInt(4)));
    }
    setTimestamp(q->columnInt(5), p.mutable_create_time());
    setTimestamp(q->columnInt(6), p.mutable_update_time());
    out.push_back(std::move(p));
  }
}

absl::StatusOr<PriceWrite> SqliteStore::setPrice(const fwd::v1::Price& price) {
  std::lock_guard<std::mutex> lock(mu_);
  PriceWrite out;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<std::vector<fwd::v1::Price>> existing = selectPrices(price.model());
    if (!existing.ok()) {
      return existing.status();
    }
    out.created = existing->empty();
    std::int64_t now = nowMicros();
    absl::StatusOr<Statement> q = db_->prepare(
        out.created ? "INSERT INTO prices (model, input_usd_micros, output_usd_micros, "
                      "cached_input_usd_micros, create_time_us, update_time_us) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                    : "UPDATE prices SET input_usd_micros = ?2, output_usd_micros = ?3, "
                      "cached_input_usd_micros = ?4, update_time_us = ?5 WHERE model = ?1");
    if (!q.ok()) {
      return q.status();
    }
    std::optional<std::int64_t> cached;
    if (price.has_cached_input_usd_micros()) {
      cached = static_cast<std::int64_t>(price.cached_input_usd_micros());
    }
    q->bind(1, price.model())
        .bind(2, static_cast<std::int64_t>(price.input_usd_micros()))
        .bind(3, static_cast<std::int64_t>(price.output_usd_micros()))
        .bind(4, cached)
        .bind(5, now);
    if (absl::Status ran = q->run(); !ran.ok()) {
      return ran;
    }
    absl::StatusOr<std::vector<fwd::v1::Price>> written = selectPrices(price.model());
    if (!written.ok() || written->empty()) {
      return written.ok() ? absl::InternalError("price vanished") : written.status();
    }
    out.price = std::move(written->front());
    absl::StatusOr<std::uint64_t> v = bumpVersion();
    if (!v.ok()) {
      return v.status();
    }
    out.version = *v;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    return s;
  }
  return out;
}

absl::StatusOr<fwd::v1::Price> SqliteStore::getPrice(std::string_view model) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<std::vector<fwd::v1::Price>> found = selectPrices(model);
  if (!found.ok()) {
    return found.status();
  }
  if (found->empty()) {
    return absl::NotFoundError("model \"" + std::string(model) + "\" has no price");
  }
  return std::move(found->front());
}

absl::StatusOr<std::vector<fwd::v1::Price>> SqliteStore::listPrices() {
  std::lock_guard<std::mutex> lock(mu_);
  return selectPrices(std::nullopt);
}

absl::StatusOr<std::uint64_t> SqliteStore::deletePrice(std::string_view model) {
  std::lock_guard<std::mutex> lock(mu_);
  std::uint64_t version = 0;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> q = db_->prepare("DELETE FROM prices WHERE model = ?1");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, model);
    if (absl::Status ran = q->run(); !ran.ok()) {
      return ran;
    }
    if (db_->changes() == 0) {
      return absl::NotFoundError("model \"" + std::string(model) + "\" has no price");
    }
    absl::StatusOr<std::uint64_t> v = bumpVersion();
    if (!v.ok()) {
      return v.status();
    }
    version = *v;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    return s;
  }
  return version;
}

absl::StatusOr<std::vector<fwd::v1::Notifier>> SqliteStore::selectNotifiers(
    std::optional<std::string_view> name) {
  absl::StatusOr<Statement> q = db_->prepare(
      std::string("SELECT id, notifier, create_time_us, update_time_us FROM notifiers") +
      (name ? " WHERE name = ?1" : "") + " ORDER BY name");
  if (!q.ok()) {
    return q.status();
  }
  if (name) {
    q->bind(1, *name);
  }
  std::vector<fwd::v1::Notifier> out;
  for (;;) {
    absl::StatusOr<bool> row = q->step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return out;
    }
    fwd::v1::Notifier n;
    if (!n.ParseFromString(q->columnBlob(1))) {
      return absl::DataLossError("a stored notifier does not parse");
    }
    n.set_id(static_cast<std::uint64_t>(q->columnInt(0)));
    setTimestamp(q->columnInt(2), n.mutable_create_time());
    setTimestamp(q->columnInt(3), n.mutable_update_time());
    out.push_back(std::move(n));
  }
}

absl::StatusOr<fwd::v1::Notifier> SqliteStore::createNotifier(const fwd::v1::Notifier& n) {
  std::lock_guard<std::mutex> lock(mu_);
  fwd::v1::Notifier out;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<std::vector<fwd::v1::Notifier>> existing = selectNotifiers(n.name());
    if (!existing.ok()) {
      return existing.status();
    }
    if (!existing->empty()) {
      return absl::AlreadyExistsError("notifier \"" + n.name() + "\" already exists");
    }
    fwd::v1::Notifier stored = n;
    stored.clear_id();
    stored.clear_create_time();
    stored.clear_update_time();
    absl::StatusOr<Statement> q = db_->prepare(
        "INSERT INTO notifiers (name, notifier, create_time_us, update_time_us) "
        "VALUES (?1, ?2, ?3, ?3)");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, n.name()).bindBlob(2, stored.SerializeAsString()).bind(3, nowMicros());
    if (absl::Status ran = q->run(); !ran.ok()) {
      return ran;
    }
    absl::StatusOr<std::vector<fwd::v1::Notifier>> written = selectNotifiers(n.name());
    if (!written.ok() || written->empty()) {
      return written.ok() ? absl::InternalError("notifier vanished") : written.status();
    }
    out = std::move(written->front());
    return absl::OkStatus();
  });
  if (!s.ok()) {
    return s;
  }
  return out;
}

absl::StatusOr<fwd::v1::Notifier> SqliteStore::getNotifier(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<std::vector<fwd::v1::Notifier>> found = selectNotifiers(name);
  if (!found.ok()) {
    return found.status();
  }
  if (found->empty()) {
    return absl::NotFoundError("notifier \"" + std::string(name) + "\" not found");
  }
  return std::move(found->front());
}

absl::StatusOr<std::vector<fwd::v1::Notifier>> SqliteStore::listNotifiers() {
  std::lock_guard<std::mutex> lock(mu_);
  return selectNotifiers(std::nullopt);
}

absl::StatusOr<fwd::v1::Notifier> SqliteStore::updateNotifier(const fwd::v1::Notifier& n) {
  std::lock_guard<std::mutex> lock(mu_);
  fwd::v1::Notifier out;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    fwd::v1::Notifier stored = n;
    stored.clear_id();
    stored.clear_create_time();
    stored.clear_update_time();
    absl::StatusOr<Statement> q =
        db_->prepare("UPDATE notifiers SET notifier = ?2, update_time_us = ?3 WHERE name = ?1");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, n.name()).bindBlob(2, stored.SerializeAsString()).bind(3, nowMicros());
    if (absl::Status ran = q->run(); !ran.ok()) {
      return ran;
    }
    if (db_->changes() == 0) {
      return absl::NotFoundError("notifier \"" + n.name() + "\" not found");
    }
    absl::StatusOr<std::vector<fwd::v1::Notifier>> written = selectNotifiers(n.name());
    if (!written.ok() || written->empty()) {
      return written.ok() ? absl::InternalError("notifier vanished") : written.status();
    }
    out = std::move(written->front());
    return absl::OkStatus();
  });
  if (!s.ok()) {
    return s;
  }
  return out;
}

absl::Status SqliteStore::deleteNotifier(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  return inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> q = db_->prepare("DELETE FROM notifiers WHERE name = ?1");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, name);
    if (absl::Status ran = q->run(); !ran.ok()) {
      return ran;
    }
    if (db_->changes() == 0) {
      return absl::NotFoundError("notifier \"" + std::string(name) + "\" not found");
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::map<std::string, std::string>> SqliteStore::selectSettings() {
  absl::StatusOr<Statement> q = db_->prepare("SELECT name, value FROM settings ORDER BY name");
  if (!q.ok()) {
    return q.status();
  }
  std::map<std::string, std::string> out;
  for (;;) {
    absl::StatusOr<bool> row = q->step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return out;
    }
    out.emplace(q->columnText(0), q->columnText(1));
  }
}

absl::StatusOr<std::map<std::string, std::string>> SqliteStore::listSettings() {
  std::lock_guard<std::mutex> lock(mu_);
  return selectSettings();
}

absl::StatusOr<std::uint64_t> SqliteStore::setSetting(std::string_view name,
                                                      std::string_view value) {
  std::lock_guard<std::mutex> lock(mu_);
  std::uint64_t version = 0;
  absl::Status s = inWriteTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> q = db_->prepare(
        "INSERT INTO settings (name, value) VALUES (?1, ?2) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value");
    if (!q.ok()) {
      return q.status();
    }
    q->bind(1, name).bind(2, value);
    if (absl::Status ran = q->run(); !ran.ok()) {
      return ran;
    }
    absl::StatusOr<std::uint64_t> v = bumpVersion();
    if (!v.ok()) {
      return v.status();
    }
    version = *v;
    return absl::OkStatus();
  });
  if (!s.ok()) {
    return s;
  }
  return version;
}

absl::StatusOr<bool> SqliteStore::hasTokens() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<Statement> q = db_->prepare("SELECT EXISTS (SELECT 1 FROM tokens)");
  if (!q.ok()) {
    return q.status();
  }
  absl::StatusOr<bool> row = q->step();
  if (!row.ok()) {
    return row.status();
  }
  return *row && q->columnInt(0) != 0;
}

absl::Status SqliteStore::addTokens(const std::vector<std::pair<TokenKind, std::string>>& hashes) {
  std::lock_guard<std::mutex> lock(mu_);
  return inWriteTransaction([&]() -> absl::Status {
    for (const auto& [kind, sha256] : hashes) {
      absl::StatusOr<Statement> q =
          db_->prepare("INSERT INTO tokens (kind, sha256, create_time_us) VALUES (?1, ?2, ?3)");
      if (!q.ok()) {
        return q.status();
      }
      q->bind(1, std::string_view(tokenKindName(kind))).bind(2, sha256).bind(3, nowMicros());
      absl::Status s = q->run();
      if (!s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::string>> SqliteStore::tokenHashes(TokenKind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<Statement> q =
      db_->prepare("SELECT sha256 FROM tokens WHERE kind = ?1 ORDER BY id");
  if (!q.ok()) {
    return q.status();
  }
  q->bind(1, std::string_view(tokenKindName(kind)));
  std::vector<std::string> out;
  for (;;) {
    absl::StatusOr<bool> row = q->step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return out;
    }
    out.push_back(q->columnText(0));
  }
}

absl::StatusOr<ConfigState> SqliteStore::readConfig() {
  std::lock_guard<std::mutex> lock(mu_);
  ConfigState state;
  absl::Status s = inReadTransaction([&]() -> absl::Status {
    absl::StatusOr<std::uint64_t> v = readVersion();
    if (!v.ok()) {
      return v.status();
    }
    state.version = *v;
    absl::StatusOr<std::vector<fwd::v1::Upstream>> upstreams = selectUpstreams();
    if (!upstreams.ok()) {
      return upstreams.status();
    }
    state.upstreams = std::move(*upstreams);
    absl::StatusOr<std::vector<fwd::v1::Key>> keys = selectKeys(/*active_only=*/true);
    if (!keys.ok()) {
      return keys.status();
    }
    state.active_keys = std::move(*keys);
    absl::StatusOr<std::vector<fwd::v1::Route>> routes = selectRoutes();
    if (!routes.ok()) {
      return routes.status();
    }
    state.routes = std::move(*routes);
    absl::StatusOr<std::map<std::string, std::string>> settings = selectSettings();
    if (!settings.ok()) {
      return settings.status();
    }
    state.settings = std::move(*settings);
    absl::StatusOr<std::vector<fwd::v1::IpRule>> rules = selectIpRules();
    if (!rules.ok()) {
      return rules.status();
    }
    state.ip_rules = std::move(*rules);
    absl::StatusOr<std::vector<fwd::v1::Price>> prices = selectPrices(std::nullopt);
    if (!prices.ok()) {
      return prices.status();
    }
    state.prices = std::move(*prices);
    return absl::OkStatus();
  });
  if (!s.ok()) {
    return s;
  }
  return state;
}

}  // namespace fwd::controlplane::store
