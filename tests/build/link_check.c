/* Links one protocol's library alone with base (every object of it, --whole-archive): a
 * protocol that calls another protocol, the loop or the gateway leaves an undefined symbol and
 * this program fails to build. Built once per protocol with -DPROTO_OPS=<its ops table>. */
#include "gateway/base/backend.h"

extern const gw_backend_ops PROTO_OPS;

int main(void)
{
    return PROTO_OPS.name == NULL || PROTO_OPS.parse == NULL;
}
