#include "bind_util.h"

namespace strata_py {

void BindProfile(nb::module_& m) {}

}  // namespace strata_py
