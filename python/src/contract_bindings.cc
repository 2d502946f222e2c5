// Data contracts: attach/detach/inspect a table's contract, check its SLA. The gate itself is
// installed when the module loads (module.cc), so every write from Python is gated.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "bind_util.h"
#include "strata/quality/contract.h"

namespace strata_py {

using namespace nb::literals;

void BindContract(nb::module_& m) {
  m.def(
      "attach_contract",
      [](const std::string& path, const std::string& yaml) {
        auto store = Store(path);
        nb::gil_scoped_release release;
        Check(strata::quality::AttachContract(store, yaml));
      },
      "path"_a, "yaml"_a);
  m.def(
      "detach_contract",
      [](const std::string& path) {
        auto store = Store(path);
        nb::gil_scoped_release release;
        Check(strata::quality::DetachContract(store));
      },
      "path"_a);
  m.def(
      "get_contract",
      [](const std::string& path) -> std::optional<std::string> {
        auto store = Store(path);
        auto c = Unwrap(strata::quality::LoadContract(store));
        if (!c) return std::nullopt;
        return c->yaml();
      },
      "path"_a);
  m.def(
      "check_contract",
      [](const std::string& yaml, const std::string& source) {
        auto c = Unwrap(strata::quality::Contract::FromYamlString(yaml, source));
        nb::dict d;
        d["name"] = c.name();
        d["owner"] = c.owner();
        d["on_fail"] = c.on_fail() == strata::quality::OnFail::kQuarantine ? "quarantine" : "reject";
        nb::list cols;
        for (const auto& col : c.columns()) {
          nb::dict cd;
          cd["name"] = col.name;
          cd["type"] = col.type;
          cd["nullable"] = col.nullable;
          cols.append(cd);
        }
        d["schema"] = cols;
        d["expectations"] = c.rules().expectations().size();
        return d;
      },
      "yaml"_a, "source"_a = "<string>");
  m.def(
      "check_sla",
      [](const std::string& path) {
        auto store = Store(path);
        strata::quality::Report r;
        {
          nb::gil_scoped_release release;
          r = Unwrap(strata::quality::CheckSla(store));
        }
        return r.ToJson();
      },
      "path"_a);
}

}  // namespace strata_py
