#include "dataplane/models/catalog.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace fwd::dataplane::models {
namespace {

// Where an entry's owned_by came from; a lower rank wins when an id has several sources.
enum class Rank { kReported = 0, kUpstreamName = 1, kFwd = 2 };

struct Candidate {
  Rank rank;
  std::string owned_by;
  std::optional<std::int64_t> created;
};

// The entries of one scope while it is built; std::map keeps them sorted by id and unique.
using Entries = std::map<std::string, Candidate, std::less<>>;

void add(Entries& entries, const std::string& id, Rank rank, std::string_view owned_by,
         std::optional<std::int64_t> created) {
  auto [it, inserted] = entries.try_emplace(id, Candidate{rank, std::string(owned_by), created});
  if (!inserted && rank < it->second.rank) {
    it->second = Candidate{rank, std::string(owned_by), created};
  }
}

void addReported(Entries& entries, const ReportedModel& m, const config::UpstreamTarget& u) {
  if (!m.owned_by.empty()) {
    add(entries, m.id, Rank::kReported, m.owned_by, m.created);
  } else {
    add(entries, m.id, Rank::kUpstreamName, u.name, m.created);
  }
}

// A pattern that names one model: no wildcard, and not a path (paths route bodiless requests).
bool isLiteralName(const std::string& pattern) {
  return pattern.find('*') == std::string::npos && !pattern.starts_with('/');
}

bool routeAccepts(const config::CompiledRoute& r, std::string_view id) {
  return r.models.empty() ||
         std::any_of(r.models.begin(), r.models.end(),
                     [&](const config::ModelMatcher& m) { return m.matches(id); });
}

const ReportedModelList* reportedBy(const ReportedLists& reported, const std::string& upstream) {
  auto it = reported.find(upstream);
  return it == reported.end() || it->second == nullptr ? nullptr : it->second.get();
}

bool usableId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxModelIdBytes &&
         std::none_of(id.begin(), id.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::string dump(const nlohmann::ordered_json& j) {
  // Replace invalid UTF-8 (an upstream's id or owner) instead of throwing.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

constexpr std::string_view kListHead = R"({"object":"list","data":[)";
constexpr std::string_view kListTail = "]}";

}  // namespace

absl::StatusOr<ReportedModelList> parseModelList(std::string_view body) {
  auto doc = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError("the model list is not valid JSON");
  }
  if (!doc.is_object() || !doc.contains("data") || !doc["data"].is_array()) {
    return absl::InvalidArgumentError("the model list has no \"data\" array");
  }
  ReportedModelList out;
  for (const auto& entry : doc["data"]) {
    if (out.size() >= kMaxReportedModels) {
      break;
    }
    if (!entry.is_object()) {
      continue;
    }
    auto id = entry.find("id");
    if (id == entry.end() || !id->is_string() || !usableId(id->get_ref<const std::string&>())) {
      continue;
    }
    ReportedModel m;
    m.id = id->get<std::string>();
    if (auto created = entry.find("created");
        created != entry.end() && created->is_number_integer()) {
      m.created = created->get<std::int64_t>();
    }
    if (auto owner = entry.find("owned_by"); owner != entry.end() && owner->is_string() &&
                                             usableId(owner->get_ref<const std::string&>())) {
      m.owned_by = owner->get<std::string>();
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::shared_ptr<const Catalog> Catalog::build(const config::CompiledConfig& config,
                                              const ReportedLists& reported,
                                              const CreatedFn& created, std::uint64_t sequence) {
  std::map<std::string, Entries, std::less<>> scopes;
  Entries& root = scopes[""];

  // Without a prefix, requests no route takes go by upstream model patterns. Each upstream in
  // try order, so the first one's owner wins a tie.
  for (const auto& u : config.upstreams()) {
    if (const ReportedModelList* list = reportedBy(reported, u.name)) {
      for (const auto& m : *list) {
        if (config::servesModel(u, m.id)) {
          addReported(root, m, u);
        }
      }
    }
    for (const auto& pattern : u.models) {
      if (isLiteralName(pattern) && config::servesModel(u, pattern)) {
        add(root, pattern, Rank::kUpstreamName, u.name, std::nullopt);
      }
    }
  }

  // A route sends what it matches to its group, whatever the upstreams' own patterns say.
  for (const auto& r : config.routes()) {
    Entries& entries = scopes[r.path_prefix];
    for (const config::UpstreamTarget* u : r.upstreams) {
      if (const ReportedModelList* list = reportedBy(reported, u->name)) {
        for (const auto& m : *list) {
          if (routeAccepts(r, m.id)) {
            addReported(entries, m, *u);
          }
        }
      }
      for (const auto& pattern : u->models) {
        if (isLiteralName(pattern) && config::servesModel(*u, pattern) &&
            routeAccepts(r, pattern)) {
          add(entries, pattern, Rank::kUpstreamName, u->name, std::nullopt);
        }
      }
    }
    for (const auto& m : r.models) {
      if (m.kind == config::ModelMatcher::Kind::kExact) {
        add(entries, m.text, Rank::kFwd, "fwd", std::nullopt);
      }
    }
  }

  auto catalog = std::make_shared<Catalog>();
  catalog->sequence_ = sequence;
  catalog->config_version_ = config.version();
  for (auto& [prefix, entries] : scopes) {
    Scope& scope = catalog->scopes_[prefix];
    scope.models.reserve(entries.size());
    scope.full_body.assign(kListHead);
    for (auto& [id, c] : entries) {
      Model m;
      m.id = id;
      m.created = c.created ? *c.created : created(id);
      m.owned_by = std::move(c.owned_by);
      m.json = dump(nlohmann::ordered_json{
          {"id", m.id}, {"object", "model"}, {"created", m.created}, {"owned_by", m.owned_by}});
      if (!scope.models.empty()) {
        scope.full_body += ',';
      }
      scope.full_body += m.json;
      scope.models.push_back(std::move(m));
    }
    scope.full_body += kListTail;
  }
  return catalog;
}

const Catalog::Scope* Catalog::scope(std::string_view prefix) const {
  auto it = scopes_.find(prefix);
  return it == scopes_.end() ? nullptr : &it->second;
}

std::span<const Model> Catalog::models(std::string_view prefix) const {
  const Scope* s = scope(prefix);
  return s == nullptr ? std::span<const Model>() : std::span<const Model>(s->models);
}

const Model* Catalog::find(std::string_view prefix, std::string_view id) const {
  std::span<const Model> list = models(prefix);
  auto it = std::lower_bound(list.begin(), list.end(), id,
                             [](const Model& m, std::string_view v) { return m.id < v; });
  return it != list.end() && it->id == id ? &*it : nullptr;
}

std::string Catalog::listBody(std::string_view prefix,
                              const std::vector<std::string>& key_models) const {
  const Scope* s = scope(prefix);
  if (s == nullptr) {
    return std::string(kListHead) + std::string(kListTail);
  }
  if (key_models.empty()) {
    return s->full_body;
  }
  std::string body(kListHead);
  bool first = true;
  for (const Model& m : s->models) {
    if (config::modelAllowed(key_models, m.id)) {
      if (!first) {
        body += ',';
      }
      first = false;
      body += m.json;
    }
  }
  body += kListTail;
  return body;
}

}  // namespace fwd::dataplane::models
