/* The effective-config printer (portico -p): the gw_conf tree back in the same syntax, with
 * variables, env.*, += and includes resolved, so that the output parses to the same tree. */
#include "gateway/config/conf.h"
#include "gateway/config/cond.h"

#include <stdio.h>
#include <string.h>

static void print_indent(FILE *o, int n)
{
    for (int i = 0; i < n; i++) fputs("    ", o);
}

static void print_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s; s++) {
        switch (*s) {
        case '"':
            fputs("\\\"", o);
            break;
        case '\\':
            fputs("\\\\", o);
            break;
        case '\n':
            fputs("\\n", o);
            break;
        case '\t':
            fputs("\\t", o);
            break;
        case '\r':
            fputs("\\r", o);
            break;
        default:
            fputc(*s, o);
        }
    }
    fputc('"', o);
}

static void print_val(FILE *o, const gw_val *v, int ind)
{
    if (v->type == GW_VAL_STR) {
        print_str(o, v->str);
        return;
    }
    if (v->type == GW_VAL_INT) {
        fprintf(o, "%lld", v->num);
        return;
    }
    if (v->n == 0) {
        fputs("( )", o);
        return;
    }
    int flat = v->type == GW_VAL_LIST;
    for (size_t i = 0; flat && i < v->n; i++)
        flat = v->items[i]->type == GW_VAL_STR || v->items[i]->type == GW_VAL_INT;
    fputs(flat ? "( " : "(\n", o);
    for (size_t i = 0; i < v->n; i++) {
        if (flat) {
            if (i) fputs(", ", o);
            print_val(o, v->items[i], ind);
            continue;
        }
        print_indent(o, ind + 1);
        if (v->type == GW_VAL_MAP) {
            print_str(o, v->keys[i]);
            fputs(" => ", o);
        }
        print_val(o, v->items[i], ind + 1);
        fputs(",\n", o);
    }
    if (flat) {
        fputs(" )", o);
    } else {
        print_indent(o, ind);
        fputc(')', o);
    }
}

static void print_cond(FILE *o, const gw_cond *c)
{
    if (c->field == GW_COND_HEADER) {
        fputs("$REQUEST_HEADER[", o);
        print_str(o, c->header);
    } else {
        fputs(c->field == GW_COND_SOCKET ? "$SERVER[" : "$HTTP[", o);
        print_str(o, gw_cond_field_names[c->field]);
    }
    fprintf(o, "] %s ", gw_cond_op_names[c->op]);
    print_str(o, c->pattern);
}

static void print_block(FILE *o, const gw_block *b, int ind)
{
    for (size_t i = 0; i < b->nsettings; i++) {
        const gw_setting *s = &b->settings[i];
        print_indent(o, ind);
        fprintf(o, "%s %s ", s->key, s->append ? "+=" : "=");
        print_val(o, s->val, ind);
        fputc('\n', o);
    }
    for (size_t i = 0; i < b->nchildren; i++) {
        if (i || b->nsettings) fputc('\n', o);
        print_indent(o, ind);
        for (const gw_block *x = b->children[i]; x; x = x->else_next) {
            if (x != b->children[i]) fputs(" else ", o);
            if (x->cond) {
                print_cond(o, x->cond);
                fputc(' ', o);
            }
            fputs("{\n", o);
            print_block(o, x, ind + 1);
            print_indent(o, ind);
            fputc('}', o);
        }
        fputc('\n', o);
    }
}

void gw_conf_print(const gw_conf *c, FILE *out)
{
    fputs("# effective configuration: includes, variables and += resolved\n", out);
    print_block(out, c->root, 0);
}
