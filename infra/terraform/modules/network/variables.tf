variable "project_id" {
  type        = string
  description = "Project that owns the network."
}

variable "region" {
  type        = string
  description = "Region of the worker subnet (and of the Cloud NAT when enabled)."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the network, subnet, firewall, router and NAT names."
}

variable "subnet_cidr" {
  type        = string
  description = "Primary IPv4 range of the worker subnet."
}

variable "enable_nat" {
  type        = bool
  description = "Create a Cloud Router and Cloud NAT so that workers can reach the internet."
  default     = false
}
