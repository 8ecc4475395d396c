/* Atomics for what several threads share without a lock: counters one thread writes and others
 * read, or several add to (relaxed), and doubles (times). Base layer: the compiler only. */
#ifndef GW_ATOMIC_H
#define GW_ATOMIC_H

#define gw_atomic_get(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define gw_atomic_set(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define gw_atomic_add(p, v) ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))

static inline double gw_atomic_get_double(const double *p)
{
    double d;
    __atomic_load(p, &d, __ATOMIC_RELAXED);
    return d;
}

static inline void gw_atomic_set_double(double *p, double v)
{
    __atomic_store(p, &v, __ATOMIC_RELAXED);
}

#endif
