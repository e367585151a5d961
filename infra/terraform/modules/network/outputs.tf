output "network_self_link" {
  description = "Self link of the VPC."
  value       = google_compute_network.this.self_link
}

output "subnetwork_self_link" {
  description = "Self link of the worker subnet; Dataflow's subnetwork option accepts it as is."
  value       = google_compute_subnetwork.workers.self_link
}

output "subnetwork_name" {
  description = "Name of the worker subnet."
  value       = google_compute_subnetwork.workers.name
}
