"""Security tasks: remediation requests from threat defense, worked by the device-management
admin (Intune's `deviceAppManagementTasks`)."""
