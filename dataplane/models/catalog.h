// The answer data of GET /v1/models: for each path prefix fwd serves ("" for /v1/models,
// "/localai" for /localai/v1/models), the models a request there can reach, sorted by id, each
// with its OpenAI model object rendered once. Built off the IO threads (on the model fetcher's
// thread) from a compiled config and the lists upstreams reported; immutable once built and
// shared read-only by every worker, like the config.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/config/compiled_config.h"

namespace fwd::dataplane::models {

/// One entry of an upstream's GET <base_url>/models answer.
struct ReportedModel {
  std::string id;
  std::optional<std::int64_t> created;
  std::string owned_by;  // empty when the upstream did not say
};
using ReportedModelList = std::vector<ReportedModel>;
/// The last good list of each upstream that answered, by upstream name.
using ReportedLists = std::unordered_map<std::string, std::shared_ptr<const ReportedModelList>>;

/// Limits on what an upstream's list may contribute.
inline constexpr std::size_t kMaxReportedModels = 10'000;  // entries beyond are ignored
inline constexpr std::size_t kMaxModelIdBytes = 256;       // longer ids are skipped

/// Reads an OpenAI model list, {"object":"list","data":[{"id":"...",...}]}. Entries without a
/// usable id (a non-empty string of at most kMaxModelIdBytes, no control characters) are
/// skipped; at most kMaxReportedModels are kept. An error when the body is not such a document.
absl::StatusOr<ReportedModelList> parseModelList(std::string_view body);

struct Model {
  std::string id;
  std::int64_t created = 0;  // unix seconds
  std::string owned_by;
  std::string json;  // {"id":...,"object":"model","created":...,"owned_by":...}
};

class Catalog {
 public:
  /// `created` for a model that no upstream gave a creation time for.
  using CreatedFn = std::function<std::int64_t(const std::string& id)>;

  /// Builds the catalog for `config`:
  /// - under no prefix: every literal name (no '*', not a path) of each upstream's `models`
  ///   that its `deny_models` do not refuse, and each model an upstream reported that it serves
  ///   (config::servesModel);
  /// - under a route's prefix ("" included): the route's exact model matches, and the literal
  ///   names (minus denied ones) and reported models of the route's upstream group that the
  ///   route matches (every one, for a route without model matchers).
  /// Duplicates merge; `owned_by` is the one an upstream reported, else the upstream's name,
  /// else "fwd" (a name only a route knows), the first upstream in try order winning a tie.
  /// `sequence` orders catalogs: a worker never replaces a catalog with an older one.
  static std::shared_ptr<const Catalog> build(const config::CompiledConfig& config,
                                              const ReportedLists& reported,
                                              const CreatedFn& created, std::uint64_t sequence);

  /// The models reachable under `prefix`, sorted by id; empty for an unknown prefix.
  std::span<const Model> models(std::string_view prefix) const;
  /// The model `id` under `prefix`, or nullptr.
  const Model* find(std::string_view prefix, std::string_view id) const;
  /// The GET <prefix>/v1/models body for a key allowed `key_models` (config::modelAllowed;
  /// empty allows every model): {"object":"list","data":[...]}.
  std::string listBody(std::string_view prefix, const std::vector<std::string>& key_models) const;

  std::uint64_t sequence() const { return sequence_; }
  std::uint64_t configVersion() const { return config_version_; }

 private:
  struct Scope {
    std::vector<Model> models;  // sorted by id
    std::string full_body;      // listBody for a key without model patterns
  };
  struct PrefixHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  const Scope* scope(std::string_view prefix) const;

  std::uint64_t sequence_ = 0;
  std::uint64_t config_version_ = 0;
  // By route prefix, "" always present; looked up by string_view (no allocation per request).
  std::unordered_map<std::string, Scope, PrefixHash, std::equal_to<>> scopes_;
};

using CatalogConstSharedPtr = std::shared_ptr<const Catalog>;

}  // namespace fwd::dataplane::models
