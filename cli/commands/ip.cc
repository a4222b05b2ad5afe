#include "cli/commands/ip.h"

#include "cli/client/error_kind.h"

namespace fwd::cli::commands {
namespace {

std::function<absl::StatusOr<Action>(const Invocation&)> prepareAdd(
    fwd::v1::IpRule::Action action) {
  return [action](const Invocation& inv) -> absl::StatusOr<Action> {
    fwd::v1::AddIpRuleRequest request;
    request.mutable_rule()->set_cidr(inv.args.at(0));
    request.mutable_rule()->set_action(action);
    OutputFormat format = inv.global.output;
    return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
      auto rule = api->addIpRule(request);
      if (!rule.ok()) {
        return rule.status();
      }
      if (format == OutputFormat::kJson) {
        writeJson(out, ipRuleJson(*rule));
      } else {
        out << "ip rule added: " << actionName(rule->action()) << " " << rule->cidr() << "\n";
      }
      return absl::OkStatus();
    });
  };
}

absl::StatusOr<Action> prepareList(const Invocation& inv) {
  OutputFormat format = inv.global.output;
  return Action([format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->listIpRules(fwd::v1::ListIpRulesRequest());
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      Json rules = Json::array();
      for (const fwd::v1::IpRule& r : response->rules()) {
        rules.push_back(ipRuleJson(r));
      }
      writeJson(out, Json{{"rules", std::move(rules)}});
    } else {
      out << ipRuleTable(*response);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareRemove(const Invocation& inv) {
  fwd::v1::RemoveIpRuleRequest request;
  request.set_cidr(inv.args.at(0));
  int chosen = 0;
  for (auto [flag, action] : {std::pair{"allow", fwd::v1::IpRule::ACTION_ALLOW},
                              {"deny", fwd::v1::IpRule::ACTION_DENY},
                              {"trust", fwd::v1::IpRule::ACTION_TRUST}}) {
    if (inv.flags.boolValue(flag).value_or(false)) {
      request.set_action(action);
      ++chosen;
    }
  }
  if (chosen > 1) {
    return client::usageError("give at most one of --allow, --deny, --trust");
  }
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->removeIpRule(request);
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, Json{{"removed", response->removed()}, {"version", response->version()}});
    } else {
      out << response->removed() << " ip rule(s) removed for " << request.cidr()
          << " (config version " << response->version() << ")\n";
    }
    return absl::OkStatus();
  });
}

}  // namespace

std::vector<CommandSpec> ipCommands() {
  return {
      {"ip",
       "allow",
       "CIDR",
       "",
       "allow clients in a block; with any allow rule, only those",
       {},
       prepareAdd(fwd::v1::IpRule::ACTION_ALLOW)},
      {"ip",
       "deny",
       "CIDR",
       "",
       "refuse clients in a block (403 ip_not_allowed)",
       {},
       prepareAdd(fwd::v1::IpRule::ACTION_DENY)},
      {"ip",
       "trust",
       "CIDR",
       "",
       "believe X-Forwarded-For from proxies in a block",
       {},
       prepareAdd(fwd::v1::IpRule::ACTION_TRUST)},
      {"ip", "list", "", "", "list the IP rules", {}, prepareList},
      {"ip",
       "remove",
       "CIDR",
       "[--allow|--deny|--trust]",
       "remove a block's rules (all of them, or the one named)",
       {{"allow", FlagKind::kBool, "", "only its allow rule"},
        {"deny", FlagKind::kBool, "", "only its deny rule"},
        {"trust", FlagKind::kBool, "", "only its trust rule"}},
       prepareRemove},
  };
}

std::string actionName(fwd::v1::IpRule::Action action) {
  switch (action) {
    case fwd::v1::IpRule::ACTION_ALLOW:
      return "allow";
    case fwd::v1::IpRule::ACTION_DENY:
      return "deny";
    case fwd::v1::IpRule::ACTION_TRUST:
      return "trust";
    default:
      return "";
  }
}

Json ipRuleJson(const fwd::v1::IpRule& rule) {
  return Json{{"cidr", rule.cidr()},
              {"action", actionName(rule.action())},
              {"created", timestampJson(rule.create_time())}};
}

std::string ipRuleTable(const fwd::v1::ListIpRulesResponse& response) {
  Table table({"ACTION", "CIDR", "CREATED"});
  for (const fwd::v1::IpRule& r : response.rules()) {
    table.addRow({actionName(r.action()), r.cidr(), timestampCell(r.create_time())});
  }
  return table.render();
}

}  // namespace fwd::cli::commands
