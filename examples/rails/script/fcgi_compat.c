/* Ruby 3 removed $SAFE, and with it rb_secure() and rb_safe_level(); Debian's ruby-fcgi
 * extension (fcgi.so) still calls both, so it fails to load. With $SAFE gone the safe level is
 * always 0 and no check can fail: these are what the functions do in Ruby 3 terms.
 * script/fastcgi builds this file once and preloads it, so that fcgi.so loads. */
int rb_safe_level(void);
void rb_secure(int level);

int rb_safe_level(void)
{
    return 0;
}

void rb_secure(int level)
{
    (void)level;
}
