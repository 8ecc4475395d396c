Rails.application.routes.draw do
  root "probe#index"
  get "env" => "probe#env_dump", as: :probe_env
  post "form" => "probe#form"
  get "download" => "probe#download"
  get "go" => "probe#go"
  get "go-route" => "probe#go_route"
  get "page" => "probe#page"
  get "stream" => "probe#stream", as: :probe_stream
  get "slow" => "probe#slow"
end
