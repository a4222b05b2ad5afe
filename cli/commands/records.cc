#include "cli/commands/records.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "cli/client/error_kind.h"
#include "cli/commands/chat_log.h"
#include "cli/commands/key_counts.h"

namespace fwd::cli::commands {
namespace {

using client::usageError;
using google::protobuf::util::TimeUtil;

// What the control plane sends of records with bodies per call (ListRecords).
constexpr std::uint32_t kMaxRecordsWithBodies = 100;

void setTime(google::protobuf::Timestamp* t, std::chrono::system_clock::time_point when) {
  *t = TimeUtil::MillisecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count());
}

/// RFC 3339 ("2026-12-01T10:00:00Z") or a UTC date ("2026-12-01").
absl::Status parseTime(const std::string& flag, const std::string& text,
                       google::protobuf::Timestamp* out) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err) &&
      !absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &t, &err)) {
    return usageError("--" + flag + " \"" + text +
                      "\": not a time; use 2026-12-01 or 2026-12-01T10:00:00Z");
  }
  setTime(out, absl::ToChronoTime(t));
  return absl::OkStatus();
}

std::string usdOfNano(std::uint64_t nano) {
  return usdCell(nano / 1000 + (nano % 1000 != 0 ? 1 : 0));
}

absl::Status applyFilterFlags(const Invocation& inv, std::chrono::system_clock::time_point now,
                              fwd::v1::RecordFilter* f) {
  if (auto v = inv.flags.value("key")) {
    f->set_key(*v);
  }
  if (auto v = inv.flags.value("model")) {
    f->set_model(*v);
  }
  if (auto v = inv.flags.value("upstream")) {
    f->set_upstream(*v);
  }
  if (auto v = inv.flags.value("status")) {
    std::string s = absl::AsciiStrToLower(*v);
    if (s.size() != 3 || s[0] < '2' || s[0] > '5' || s.substr(1) != "xx") {
      return usageError("--status \"" + *v + "\": use 2xx, 3xx, 4xx or 5xx");
    }
    f->set_status_class(s[0] - '0');
  }
  auto since = inv.flags.durationValue("since");
  if (!since.ok()) {
    return since.status();
  }
  if (since->has_value() && (inv.flags.has("from") || inv.flags.has("to"))) {
    return usageError("--since cannot be used with --from or --to");
  }
  if (since->has_value()) {
    if (**since <= std::chrono::milliseconds(0)) {
      return usageError("--since must be more than 0");
    }
    setTime(f->mutable_from(), now - **since);
  }
  if (auto v = inv.flags.value("from")) {
    if (absl::Status s = parseTime("from", *v, f->mutable_from()); !s.ok()) {
      return s;
    }
  }
  if (auto v = inv.flags.value("to")) {
    if (absl::Status s = parseTime("to", *v, f->mutable_to()); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

/// One line of JSON (JSON Lines); invalid UTF-8 replaced, as writeJson does.
std::string jsonLine(const Json& doc) {
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

absl::StatusOr<Action> prepareUsage(const Invocation& inv) {
  auto request = buildUsageRequest(inv, std::chrono::system_clock::now());
  if (!request.ok()) {
    return request.status();
  }
  OutputFormat format = inv.global.output;
  return Action(
      [request = *request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
        auto response = api->getUsage(request);
        if (!response.ok()) {
          return response.status();
        }
        if (format == OutputFormat::kJson) {
          writeJson(out, usageReportJson(request.group_by(), *response));
        } else {
          out << usageReportText(request.group_by(), *response);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<Action> prepareLogs(const Invocation& inv) {
  auto request = buildLogsRequest(inv, std::chrono::system_clock::now());
  if (!request.ok()) {
    return request.status();
  }
  OutputFormat format = inv.global.output;
  auto interval = inv.flags.durationValue("interval");
  if (!interval.ok()) {
    return interval.status();
  }
  if (interval->has_value() && !inv.flags.boolValue("follow").value_or(false)) {
    return usageError("--interval is for --follow");
  }
  if (interval->has_value() && **interval <= std::chrono::milliseconds(0)) {
    return usageError("--interval must be more than 0");
  }
  if (inv.flags.boolValue("bodies").value_or(false)) {
    if (request->limit() > kMaxRecordsWithBodies) {
      return usageError("--limit must be 1 to 100 with --bodies");
    }
    request->set_include_bodies(true);
  }
  if (inv.flags.boolValue("follow").value_or(false)) {
    request->set_order(fwd::v1::RECORD_ORDER_ARRIVAL);
    return Action([request = *request, format, every = interval->value_or(std::chrono::seconds(1))](
                      client::AdminApi* api, std::ostream& out) mutable -> absl::Status {
      return followLogs(api, request, format, every, out);
    });
  }
  return Action(
      [request = *request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
        auto response = api->listRecords(request);
        if (!response.ok()) {
          return response.status();
        }
        if (format == OutputFormat::kJson) {
          writeJson(out, logsJson(*response));
        } else {
          out << logsText(*response);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<Action> prepareExport(const Invocation& inv) {
  auto request = buildLogsRequest(inv, std::chrono::system_clock::now());
  if (!request.ok()) {
    return request.status();
  }
  const std::string format = inv.flags.value("format").value_or("jsonl");
  if (format != "jsonl" && format != "csv") {
    return usageError("--format \"" + format + "\": use jsonl or csv");
  }
  request->set_order(fwd::v1::RECORD_ORDER_OLDEST_FIRST);
  request->set_limit(1000);
  if (inv.flags.boolValue("bodies").value_or(false)) {
    if (format == "csv") {
      return usageError("--bodies is for --format jsonl");
    }
    request->set_include_bodies(true);
    request->set_limit(kMaxRecordsWithBodies);
  }
  return Action([request = *request, csv = format == "csv"](
                    client::AdminApi* api, std::ostream& out) mutable -> absl::Status {
    if (csv) {
      out << csvHeader();
    }
    for (;;) {
      auto page = api->listRecords(request);
      if (!page.ok()) {
        return page.status();
      }
      for (const fwd::v1::Record& r : page->records()) {
        out << (csv ? recordCsv(r) : jsonLine(recordJson(r)));
      }
      if (page->next_page_token().empty()) {
        return absl::OkStatus();
      }
      request.set_page_token(page->next_page_token());
    }
  });
}

absl::StatusOr<Action> prepareConvert(const Invocation& inv) {
  auto request = buildLogsRequest(inv, std::chrono::system_clock::now());
  if (!request.ok()) {
    return request.status();
  }
  request->set_order(fwd::v1::RECORD_ORDER_OLDEST_FIRST);
  request->set_limit(kMaxRecordsWithBodies);
  request->set_include_bodies(true);
  return Action(
      [request = *request](client::AdminApi* api, std::ostream& out) mutable -> absl::Status {
        // One element per line, written as pages come: a long log is never held whole.
        size_t written = 0;
        size_t left_out = 0;
        out << "[";
        for (;;) {
          auto page = api->listRecords(request);
          if (!page.ok()) {
            return page.status();
          }
          for (const fwd::v1::Record& r : page->records()) {
            std::optional<Json> entry = chatLogEntry(r);
            if (!entry) {
              ++left_out;
              continue;
            }
            out << (written++ == 0 ? "\n" : ",\n")
                << entry->dump(-1, ' ', false, Json::error_handler_t::replace);
          }
          if (page->next_page_token().empty()) {
            break;
          }
          request.set_page_token(page->next_page_token());
        }
        out << (written == 0 ? "]\n" : "\n]\n");
        if (left_out > 0) {
          std::cerr << "fwdctl: " << left_out
                    << " records left out: not chat completions with a whole request body (bodies "
                       "are kept only for routes and keys with --log-bodies)\n";
        }
        return absl::OkStatus();
      });
}

// "ok", "error", "partial", "client_cancelled", "rate_limited": the enum's name without its
// OUTCOME_ prefix, lowercase; "" when unset.
std::string outcomeName(fwd::v1::Outcome o) {
  return o == fwd::v1::OUTCOME_UNSPECIFIED
             ? std::string()
             : absl::AsciiStrToLower(fwd::v1::Outcome_Name(o).substr(sizeof("OUTCOME_") - 1));
}

std::string millisCell(std::uint64_t us) {
  return std::to_string(us / 1000) + "." + std::to_string(us % 1000 / 100) + "ms";
}

}  // namespace

std::vector<CommandSpec> recordsCommands() {
  const std::vector<FlagSpec> filter = {
      {"key", FlagKind::kValue, "NAME", "only this key's requests"},
      {"model", FlagKind::kValue, "MODEL", "only requests for this model (as asked)"},
      {"upstream", FlagKind::kValue, "NAME", "only requests this upstream answered"},
      {"status", FlagKind::kValue, "CLASS", "only 2xx, 3xx, 4xx or 5xx answers"},
      {"since", FlagKind::kValue, "DURATION", "the last DURATION, e.g. 24h (default: all)"},
      {"from", FlagKind::kValue, "TIME", "from this time, e.g. 2026-12-01 (UTC)"},
      {"to", FlagKind::kValue, "TIME", "until this time, excluded"}};
  const std::string synopsis =
      "[--key NAME] [--model MODEL] [--upstream NAME] [--status 2xx|4xx|5xx] "
      "[--since DURATION | --from TIME [--to TIME]]";
  std::vector<FlagSpec> usage_flags = filter;
  usage_flags.push_back(
      {"by", FlagKind::kValue, "GROUP", "one row per key, model, upstream, day or hour"});
  std::vector<FlagSpec> logs_flags = filter;
  logs_flags.push_back(
      {"limit", FlagKind::kValue, "N", "at most N records, 1 to 10000 (default 50)"});
  logs_flags.push_back({"follow", FlagKind::kBool, "",
                        "then print records as the control plane stores them, until interrupted"});
  logs_flags.push_back(
      {"interval", FlagKind::kValue, "DURATION", "with --follow: ask every DURATION (default 1s)"});
  logs_flags.push_back({"bodies", FlagKind::kBool, "",
                        "with the request and response bodies records keep (at most 100 "
                        "records)"});
  std::vector<FlagSpec> export_flags = filter;
  export_flags.push_back({"format", FlagKind::kValue, "FORMAT", "jsonl (default) or csv"});
  export_flags.push_back(
      {"bodies", FlagKind::kBool, "", "with the bodies records keep (jsonl only)"});
  return {{"usage", "", "", synopsis + " [--by key|model|upstream|day|hour]",
           "requests, errors, tokens and cost from the request records", usage_flags, prepareUsage},
          {"logs", "", "", synopsis + " [--limit N] [--bodies] [--follow [--interval DURATION]]",
           "the newest request records, newest first; --follow: then new ones as they come",
           logs_flags, prepareLogs},
          {"logs", "export", "", synopsis + " [--format jsonl|csv] [--bodies]",
           "every record that matches, oldest first, one per line", export_flags, prepareExport},
          {"logs", "convert", "", synopsis,
           "the chat completions among the records, with their bodies, as a JSON chat log "
           "(datetime, ip, model, messages, assistant, is_tool_calls)",
           filter, prepareConvert}};
}

absl::StatusOr<fwd::v1::GetUsageRequest> buildUsageRequest(
    const Invocation& inv, std::chrono::system_clock::time_point now) {
  fwd::v1::GetUsageRequest request;
  if (absl::Status s = applyFilterFlags(inv, now, request.mutable_filter()); !s.ok()) {
    return s;
  }
  if (auto v = inv.flags.value("by")) {
    static const std::vector<std::string> kGroups = {"key", "model", "upstream", "day", "hour"};
    if (std::find(kGroups.begin(), kGroups.end(), *v) == kGroups.end()) {
      return usageError("--by \"" + *v + "\": use key, model, upstream, day or hour");
    }
    request.set_group_by(*v);
  }
  return request;
}

Json usageReportJson(const std::string& group_by, const fwd::v1::GetUsageResponse& usage) {
  Json rows = Json::array();
  for (const fwd::v1::UsageRow& r : usage.rows()) {
    rows.push_back(Json{{"group", r.group()},
                        {"requests", r.requests()},
                        {"errors", r.errors()},
                        {"prompt_tokens", r.prompt_tokens()},
                        {"completion_tokens", r.completion_tokens()},
                        {"cached_tokens", r.cached_tokens()},
                        {"cost_usd", static_cast<double>(r.cost_nano_usd()) / 1e9},
                        {"cost_nano_usd", r.cost_nano_usd()},
                        {"unpriced_requests", r.unpriced_requests()}});
  }
  return Json{{"group_by", group_by.empty() ? Json() : Json(group_by)}, {"rows", std::move(rows)}};
}

std::string usageReportText(const std::string& group_by, const fwd::v1::GetUsageResponse& usage) {
  if (usage.rows().empty()) {
    return "no records match\n";
  }
  std::vector<std::string> header = {"REQUESTS", "ERRORS", "PROMPT",  "COMPLETION",
                                     "CACHED",   "COST",   "UNPRICED"};
  if (!group_by.empty()) {
    header.insert(header.begin(), absl::AsciiStrToUpper(group_by));
  }
  Table table(header);
  for (const fwd::v1::UsageRow& r : usage.rows()) {
    std::vector<std::string> row = {
        std::to_string(r.requests()),         std::to_string(r.errors()),
        std::to_string(r.prompt_tokens()),    std::to_string(r.completion_tokens()),
        std::to_string(r.cached_tokens()),    usdOfNano(r.cost_nano_usd()),
        std::to_string(r.unpriced_requests())};
    if (!group_by.empty()) {
      row.insert(row.begin(), r.group());
    }
    table.addRow(std::move(row));
  }
  return table.render();
}

absl::StatusOr<fwd::v1::ListRecordsRequest> buildLogsRequest(
    const Invocation& inv, std::chrono::system_clock::time_point now) {
  fwd::v1::ListRecordsRequest request;
  if (absl::Status s = applyFilterFlags(inv, now, request.mutable_filter()); !s.ok()) {
    return s;
  }
  auto limit = inv.flags.uint32Value("limit");
  if (!limit.ok()) {
    return limit.status();
  }
  if (limit->has_value()) {
    if (**limit < 1 || **limit > 10'000) {
      return usageError("--limit must be 1 to 10000, got " + std::to_string(**limit));
    }
    request.set_limit(**limit);
  }
  return request;
}

Json recordJson(const fwd::v1::Record& r) {
  Json failed = Json::array();
  for (const fwd::v1::FailedAttempt& f : r.failed_attempts()) {
    failed.push_back(
        Json{{"upstream", f.upstream()}, {"reason", f.reason()}, {"status", f.status()}});
  }
  Json out{{"time", timestampJson(r.time())},
           {"id", r.id()},
           {"request_id", r.request_id()},
           {"node_id", r.node_id()},
           {"key", r.key_name()},
           {"client_ip", r.client_ip()},
           {"method", r.method()},
           {"path", r.path()},
           {"route", r.route()},
           {"model", r.model()},
           {"served_model", r.served_model()},
           {"upstream", r.upstream()},
           {"status", r.status()},
           {"error_code", r.error_code()},
           {"attempts", r.attempts()},
           {"failed_attempts", std::move(failed)},
           {"stream", r.stream()},
           {"ttfb_ms", static_cast<double>(r.ttfb_us()) / 1000},
           {"latency_ms", static_cast<double>(r.latency_us()) / 1000},
           {"overhead_ms", static_cast<double>(r.overhead_us()) / 1000},
           {"prompt_tokens", r.prompt_tokens()},
           {"completion_tokens", r.completion_tokens()},
           {"cached_tokens", r.cached_tokens()},
           {"reasoning_tokens", r.reasoning_tokens()},
           {"usage_estimated", r.usage_estimated()},
           {"cost_nano_usd", r.cost_nano_usd()},
           {"priced", r.priced()},
           {"tool_calls", r.tool_calls()},
           {"multimodal", r.multimodal()},
           {"bytes_in", r.bytes_in()},
           {"bytes_out", r.bytes_out()},
           {"outcome", outcomeName(r.outcome())}};
  // Only records of a route or key with --log-bodies have them, and only with --bodies.
  if (!r.request_body().empty() || !r.response_body().empty()) {
    out["request_body"] = r.request_body();
    out["response_body"] = r.response_body();
  }
  return out;
}

Json logsJson(const fwd::v1::ListRecordsResponse& records) {
  Json out = Json::array();
  for (const fwd::v1::Record& r : records.records()) {
    out.push_back(recordJson(r));
  }
  return Json{{"records", std::move(out)}};
}

std::string csvHeader() {
  std::string line;
  const Json fields = recordJson(fwd::v1::Record());
  for (const auto& [name, value] : fields.items()) {
    absl::StrAppend(&line, line.empty() ? "" : ",", name);
  }
  return line + "\r\n";
}

std::string recordCsv(const fwd::v1::Record& r) {
  std::string line;
  Json fields = recordJson(r);   // not in the for: items() would outlive a temporary
  fields.erase("request_body");  // not in the header's columns
  fields.erase("response_body");
  for (const auto& [name, value] : fields.items()) {
    std::string cell;
    if (value.is_string()) {
      cell = value.get<std::string>();
    } else if (value.is_array()) {  // failed_attempts: upstream:reason:status;...
      for (const Json& f : value) {
        absl::StrAppend(&cell, cell.empty() ? "" : ";", f["upstream"].get<std::string>(), ":",
                        f["reason"].get<std::string>(), ":", f["status"].get<int>());
      }
    } else if (!value.is_null()) {
      cell = value.dump();
    }
    // RFC 4180: a cell with a comma, quote or line break is quoted, its quotes doubled.
    if (cell.find_first_of(",\"\r\n") != std::string::npos) {
      cell = "\"" + absl::StrReplaceAll(cell, {{"\"", "\"\""}}) + "\"";
    }
    absl::StrAppend(&line, line.empty() ? "" : ",", cell);
  }
  return line + "\r\n";
}

std::string recordLine(const fwd::v1::Record& r) {
  auto orDash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  std::string tokens =
      std::to_string(r.prompt_tokens()) + "+" + std::to_string(r.completion_tokens());
  if (r.usage_estimated()) {
    tokens += "~";
  }
  return absl::StrJoin(
             {formatTimestamp(r.time()), orDash(r.key_name()), orDash(r.model()),
              orDash(r.upstream()), std::to_string(r.status()), millisCell(r.latency_us()), tokens,
              r.priced() ? usdOfNano(r.cost_nano_usd()) : std::string("unpriced"),
              orDash(r.request_id())},
             "  ") +
         "\n";
}

absl::Status followLogs(client::AdminApi* api, fwd::v1::ListRecordsRequest request,
                        OutputFormat format, std::chrono::milliseconds every, std::ostream& out) {
  if (format == OutputFormat::kTable) {
    out << "TIME  KEY  MODEL  UPSTREAM  STATUS  LATENCY  TOKENS  COST  REQUEST_ID\n";
  }
  for (;;) {
    auto page = api->listRecords(request);
    if (!page.ok()) {
      return page.status();
    }
    for (const fwd::v1::Record& r : page->records()) {
      out << (format == OutputFormat::kJson ? jsonLine(recordJson(r)) : recordLine(r));
    }
    out.flush();
    const bool full =
        page->records_size() >= static_cast<int>(request.limit() == 0 ? 50 : request.limit());
    request.set_page_token(page->next_page_token());
    request.set_limit(request.include_bodies() ? kMaxRecordsWithBodies : 1000);
    if (!full) {  // a full page: more may be waiting, ask again at once
      std::this_thread::sleep_for(every);
    }
  }
}

std::string logsText(const fwd::v1::ListRecordsResponse& records) {
  if (records.records().empty()) {
    return "no records match\n";
  }
  Table table(
      {"TIME", "KEY", "MODEL", "UPSTREAM", "STATUS", "LATENCY", "TOKENS", "COST", "REQUEST_ID"});
  for (const fwd::v1::Record& r : records.records()) {
    auto orDash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
    std::string tokens =
        std::to_string(r.prompt_tokens()) + "+" + std::to_string(r.completion_tokens());
    if (r.usage_estimated()) {
      tokens += "~";
    }
    table.addRow({formatTimestamp(r.time()), orDash(r.key_name()), orDash(r.model()),
                  orDash(r.upstream()), std::to_string(r.status()), millisCell(r.latency_us()),
                  tokens, r.priced() ? usdOfNano(r.cost_nano_usd()) : "unpriced",
                  orDash(r.request_id())});
  }
  return table.render();
}

}  // namespace fwd::cli::commands
