output "worker_service_account_email" {
  description = "Email of the Dataflow worker service account."
  value       = google_service_account.worker.email
}

output "launcher_service_account_email" {
  description = "Email of the launcher service account."
  value       = google_service_account.launcher.email
}

output "kms_key_name" {
  description = "The KMS key (or null), available only once the service agents may use it; reference this instead of the input to order resource creation after the grants."
  value       = var.kms_key_name
  depends_on  = [google_kms_crypto_key_iam_member.service_agents]
}
