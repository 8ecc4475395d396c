# puma -C config/puma.rb (puma reads this file by itself when started in this directory).
# A -b given on the command line replaces the bind below.
environment ENV.fetch("RAILS_ENV", "production")
bind ENV.fetch("PUMA_BIND", "tcp://127.0.0.1:3000")
threads 1, Integer(ENV.fetch("PUMA_THREADS", "5"))
workers 0
quiet
