page source
